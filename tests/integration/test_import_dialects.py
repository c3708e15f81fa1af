"""Files as they arrive (issue 15) against the real PostgreSQL, the real CLI and the inbox job: every export fixture
re-saved as Excel and LibreOffice write it (tests/resave.py) lands as exactly the raw records of the original file —
same source_record_id (the record's content hash), same amounts and times — and a second import of the same file
changes nothing. An ambiguous file is refused by `coinbook import` with what was found, and imported with the option
that settles it; the inbox takes the option from import.yaml.

A database of this module's own (test_pipeline syncs every account it finds)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.services.imports import import_file
from pipelines.sources.files.dialect import ReadOptions
from tests.resave import VARIANTS
from tests.unit.test_file_dialects import BECOMES_VALID, FIXTURE_FILES, FIXTURES, NEEDS_DATE_FORMAT, TIMEZONE
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
COINBOOK = Path(sys.prefix) / "bin" / "coinbook"
TENANT = "dia"
# Whose export each fixture is (check_owner): the venue and kind of the accounts it is imported into.
OWNER = {"binance": ("binance", "exchange"), "coinbase": ("coinbase", "exchange"), "kraken": ("kraken", "exchange"),
         "htx": ("htx", "exchange"), "ledger_live": ("bitcoin", "wallet"), "generic": ("htx", "exchange")}


def account_of(fixture: str, variant: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", fixture.removesuffix(".csv").lower()).strip("-")  # '…(UTC+7)': the zone
    if len(name) > 30:  # account ids have at most 63 characters
        name = f"{name[:23]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    return f"dia-{name}-{variant}"


def owner_of(fixture: str) -> tuple[str, str]:
    return next(owner for prefix, owner in OWNER.items() if fixture.lower().startswith(prefix))


@pytest.fixture(scope="module")
def database_url(cluster: Any) -> Iterator[str]:
    from pipelines.services.accounts import AccountSpec, register_accounts
    from warehouse.migrate import apply_migrations

    name = f"coinbook_dialects_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    apply_migrations(url)
    specs = []
    for fixture in FIXTURE_FILES:
        venue, kind = owner_of(fixture)
        for variant in ("original", *(v.name for v in VARIANTS), "cli", "inbox"):
            account = account_of(fixture, variant)
            specs.append(AccountSpec(TENANT, "Dialect Co", "p1", "P1", account, venue, account, "live", None,
                                     kind=kind))
    register_accounts(Warehouse(url), specs)
    yield url
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def wh(database_url: str) -> Warehouse:
    return Warehouse(database_url)


RECORD_COLUMNS = ("source_record_id", "record_type", "occurred_at", "base_asset", "quote_asset", "side", "quantity",
                  "price", "cost", "asset", "amount", "fee_amount", "fee_asset", "venue_record_id", "txid",
                  "income_kind", "line_numbers")


def records(database_url: str, account: str) -> set[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return {tuple(map(str, row)) for row in conn.execute(
            f"select {', '.join(RECORD_COLUMNS)} from raw.file_records where account_id = %s", (account,))}


def counts(database_url: str, account: str) -> tuple[int, int]:
    """(raw.file_records, ops.quarantine) rows of an account."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select (select count(*) from raw.file_records where account_id = %(a)s), "
                           "(select count(*) from ops.quarantine where account_id = %(a)s)", {"a": account}).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("fixture", FIXTURE_FILES)
def test_every_resaved_export_lands_as_the_originals_records_and_twice_changes_nothing(
        database_url: str, wh: Warehouse, tmp_path: Path, fixture: str) -> None:
    text = (FIXTURES / fixture).read_bytes().decode("utf-8")
    zone = TIMEZONE.get(fixture)
    original = import_file(wh, FIXTURES / fixture, account_of(fixture, "original"), timezone=zone)
    expected = records(database_url, account_of(fixture, "original"))
    assert len(expected) == original.records > 0
    made_valid: set[tuple[Any, ...]] = set()
    for variant in VARIANTS:
        account = account_of(fixture, variant.name)
        path = tmp_path / f"{variant.name}-{fixture}"
        path.write_bytes(variant.bytes(text))
        reading = ReadOptions(date_format=NEEDS_DATE_FORMAT.get((fixture, variant.name)))
        outcome = import_file(wh, path, account, timezone=zone, reading=reading)
        got = records(database_url, account)
        extra = {row for row in got - expected if fixture in BECOMES_VALID and variant.decimal == ","
                 and row[-1] == f"[{BECOMES_VALID[fixture]}]"}  # '12,5': a number once the file is decimal-comma
        assert got - extra == expected, variant.name
        assert len(extra) == (1 if fixture in BECOMES_VALID and variant.decimal == "," else 0)
        assert outcome.quarantined == original.quarantined - len(extra)
        assert outcome.rows_in == original.rows_in + len([line for line in variant.footer if line])
        before = counts(database_url, account)
        again = import_file(wh, path, account, timezone=zone, reading=reading)
        assert (again.loaded_new, again.duplicates) == (0, again.records)
        assert counts(database_url, account) == before
        # into the original's account: nothing new but the row the re-save made valid
        made_valid |= extra
        import_file(wh, path, account_of(fixture, "original"), timezone=zone, reading=reading)
        assert records(database_url, account_of(fixture, "original")) == expected | made_valid


def coinbook_import(database_url: str, home: Path, path: Path, account: str,
                    *options: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINBOOK_DATABASE_URL": database_url, "COINBOOK_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run([str(COINBOOK), "import", str(path), "--account", account, *options], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_refuses_an_ambiguous_file_with_what_it_found_and_takes_the_option(database_url: str, wh: Warehouse,
                                                                                    tmp_path: Path) -> None:
    fixture, variant = "ledger_live.csv", next(v for v in VARIANTS if v.name == "excel-us-csv-utf8")
    import_file(wh, FIXTURES / fixture, account_of(fixture, "original"))  # (again, if the test above ran: a no-op)
    path = tmp_path / "ledger-us.csv"
    path.write_bytes(variant.bytes((FIXTURES / fixture).read_bytes().decode("utf-8")))
    account = account_of(fixture, "cli")
    refused = coinbook_import(database_url, tmp_path, path, account)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert ("import refused: ledger-us.csv: refused, nothing imported: read as ledger_live (header on line 1, "
            "comma-delimited), but dates like '03/06/2024 10:00:00' (line 15, Operation Date) can be day first or "
            "month first") in " ".join(refused.stdout.split())
    assert counts(database_url, account) == (0, 0)
    done = coinbook_import(database_url, tmp_path, path, account, "--date-format", "MDY")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(ledger_live; comma-delimited, decimal point, dates MDY) → dia/" in done.stdout
    assert records(database_url, account) == records(database_url, account_of(fixture, "original")) != set()
    bad = coinbook_import(database_url, tmp_path, path, account, "--delimiter", ":")
    assert bad.returncode == 2 and "unknown delimiter ':'" in bad.stdout


def test_the_inbox_reads_import_yaml_and_tries_a_refused_file_again_once_the_option_is_there(
        database_url: str, wh: Warehouse, tmp_path: Path) -> None:
    from pipelines.defs.imports.sensors import import_inbox_sensor
    from tests.support import definitions_for, settings_for

    fixture, variant = "generic.csv", next(v for v in VARIANTS if v.name == "excel-fr-unicode-text")
    import_file(wh, FIXTURES / fixture, account_of(fixture, "original"))
    account = account_of(fixture, "inbox")
    inbox = tmp_path / "inbox"
    folder = inbox / TENANT / account
    folder.mkdir(parents=True)
    data = variant.bytes((FIXTURES / fixture).read_bytes().decode("utf-8"))
    (folder / "otc.txt").write_bytes(data)  # Excel names a "Unicode Text" file .txt
    defs = definitions_for(database_url, "http://127.0.0.1:9", import_inbox=inbox)
    instance = dg.DagsterInstance.ephemeral()
    sensor = import_inbox_sensor(settings_for(database_url, "http://127.0.0.1:9", import_inbox=inbox))

    def run_inbox() -> dg.ExecuteInProcessResult:
        (request,) = sensor(dg.build_sensor_context(instance=instance)).run_requests
        return defs.resolve_job_def("file_import").execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags, raise_on_error=False)

    refused = run_inbox()
    assert not refused.success
    (moved,) = (folder / "refused").glob("*-otc.txt")
    assert "can be day first or month first" in (folder / "refused" / f"{moved.name}.reason.txt").read_text()
    (folder / "import.yaml").write_text("date_format: DMY   # fr-FR: 08/03/2024 is 8 March\n")
    (folder / "otc.txt").write_bytes(data)  # dropped again: the same file, a new run key
    done = run_inbox()
    assert done.success
    (materialization,) = done.asset_materializations_for_node("raw_file_records")
    assert materialization.metadata["read_as"].value == "tab-delimited, decimal comma, dates DMY, UTF-16-LE"
    assert records(database_url, account) == records(database_url, account_of(fixture, "original")) != set()
    (folder / "import.yaml").write_text("decimal_coma: true\n")
    (folder / "again.csv").write_bytes(data)
    assert not run_inbox().success
    (reason,) = (folder / "refused").glob("*-again.csv.reason.txt")
    assert "unknown key decimal_coma" in reason.read_text()
