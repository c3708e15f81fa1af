"""The CSV import path against the real PostgreSQL and the real CLI, for the mistakes people make (issue 13): a NUL
byte in one cell, a large file of junk, another venue's export, a refused file in the inbox — and a thousand
malformed rows among good ones, each quarantined with its file, line and reason.

A database of this module's own: its tenant and accounts stay out of the shared session database (test_pipeline
syncs every account it finds)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.services.imports import HEAD_BYTES, import_file
from pipelines.sources.files import FileRefused
from tests.unit.test_file_imports import FIXTURES, FUZZ_SPECS, GENERIC_HEADER, JUNK_ALPHABET, _malformed
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
COINBOOK = Path(sys.prefix) / "bin" / "coinbook"
TENANT = "imp"


@pytest.fixture(scope="module")
def database_url(cluster: Any) -> Iterator[str]:
    from pipelines.services.accounts import AccountSpec, register_accounts

    name = f"coinbook_imports_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    register_accounts(Warehouse(url), [
        AccountSpec(TENANT, "Import Co", "p1", "P1", account, venue, account, "live", None, kind=kind)
        for account, venue, kind in (("imp-binance", "binance", "exchange"), ("imp-htx", "htx", "exchange"),
                                     ("imp-kraken", "kraken", "exchange"), ("imp-ledger", "bitcoin", "wallet"))])
    yield url
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def wh(database_url: str) -> Warehouse:
    return Warehouse(database_url)


def coinbook_import(database_url: str, home: Path, path: Path, account: str) -> subprocess.CompletedProcess[str]:
    """`coinbook import FILE --account A` as a user runs it."""
    env = {**os.environ, "COINBOOK_DATABASE_URL": database_url, "COINBOOK_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([str(COINBOOK), "import", str(path), "--account", account], env=env, capture_output=True,
                          text=True, timeout=120)


def written(database_url: str, account: str) -> tuple[int, int, int]:
    """(raw.file_records, ops.quarantine, ops.imports) rows of an account."""
    with psycopg.connect(database_url) as conn:
        return tuple(conn.execute(  # type: ignore[return-value]
            "select (select count(*) from raw.file_records where account_id = %(a)s), "
            "(select count(*) from ops.quarantine where account_id = %(a)s), "
            "(select count(*) from ops.imports where account_id = %(a)s)", {"a": account}).fetchone())


def test_a_nul_byte_in_one_cell_quarantines_that_line_and_the_rest_imports(database_url: str,
                                                                          tmp_path: Path) -> None:
    """Before: `psycopg.DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes` and a traceback, nothing
    imported (the reason quoted the cell; a free-text cell went into raw.file_records)."""
    good = [f"2024-05-0{d}T10:00:00Z,buy,SOL,{d},USDT,{150 * d},USDT,0.1,nul-{d},," for d in range(1, 5)]
    path = tmp_path / "with-nul.csv"
    path.write_text("\n".join([GENERIC_HEADER, good[0], "2024-05-09T10:00:00Z,buy,SO\x00L,1,USDT,150,,,,,", *good[1:],
                               "2024-05-09T11:00:00Z,buy,SOL,1,USDT,150,,,ref\x00,,"]) + "\n")
    done = coinbook_import(database_url, tmp_path, path, "imp-kraken")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "6 rows in = 4 loaded" in done.stdout and "+ 2 quarantined" in done.stdout
    shown = [line for line in done.stdout.splitlines() if "quarantined with-nul.csv" in line]
    assert shown == ["  quarantined with-nul.csv line 3: base_asset: contains a NUL byte (\\x00): binary data, "
                     "not CSV text",
                     "  quarantined with-nul.csv line 7: record_id: contains a NUL byte (\\x00): binary data, "
                     "not CSV text"]
    with psycopg.connect(database_url) as conn:
        kept = conn.execute("select payload->'row'->>'base_asset', payload->'row'->>'record_id' from ops.quarantine "
                            "where account_id = 'imp-kraken' order by (payload->>'line')::int").fetchall()
        loaded = conn.execute("select count(*) from raw.file_records where account_id = 'imp-kraken'").fetchone()
    assert kept == [("SO\\x00L", ""), ("SOL", "ref\\x00")]  # where the NUL was, shown, not stored
    assert loaded == (4,)


def test_a_large_junk_file_is_refused_after_a_sample_and_nothing_is_written(database_url: str, wh: Warehouse,
                                                                            tmp_path: Path) -> None:
    """Before: the whole file read (a 50 MB file: 533 MB of memory, 90 s) and every line quarantined (339 MB).
    Now only its head is read and judged: refused whole, one line, exit 2, nothing in raw, quarantine or imports."""
    rng = random.Random("coinbook-junk-file")
    unique = ["".join(rng.choice(JUNK_ALPHABET) for _ in range(rng.randint(40, 120))) for _ in range(300)]
    junk = (GENERIC_HEADER + "\n" + "\n".join(unique[i % len(unique)] for i in range(60_000)) + "\n").encode(
        "utf-8", errors="surrogateescape")
    path = tmp_path / "junk.csv"
    path.write_bytes(junk)
    assert path.stat().st_size > 2 * HEAD_BYTES  # a few MB: more than the head that is read first

    tracemalloc.start()
    try:
        with pytest.raises(FileRefused) as info:
            import_file(wh, path, "imp-binance")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < path.stat().st_size  # the file was never held whole (before: several times its size)
    assert str(info.value).startswith("refused, nothing imported: 500 of the first 500 data lines are not valid "
                                      "generic rows (expected Coinbook generic template: ")
    assert written(database_url, "imp-binance") == (0, 0, 0)

    done = coinbook_import(database_url, tmp_path, path, "imp-binance")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stdout.startswith("import refused: junk.csv: refused, nothing imported: 500 of the first 500")
    assert len(done.stdout.strip().splitlines()) == 1
    assert written(database_url, "imp-binance") == (0, 0, 0)

    binary = tmp_path / "photo.csv"  # not text at all: no header in it
    binary.write_bytes(bytes(rng.randrange(256) for _ in range(200_000)))
    done = coinbook_import(database_url, tmp_path, binary, "imp-binance")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    # refused before any header is looked for: neither UTF-8 nor Windows-1252, and NUL bytes (UTF-16 is read)
    assert done.stdout.startswith("import refused: photo.csv: refused, nothing imported: the file holds NUL bytes: "
                                  "it is binary, not CSV text")
    assert len(done.stdout.strip().splitlines()) == 1


def test_another_venues_export_is_refused_and_the_generic_template_goes_anywhere(database_url: str,
                                                                                wh: Warehouse,
                                                                                tmp_path: Path) -> None:
    """Before: a Kraken ledger went into a Binance account, a Ledger Live export into an HTX account, silently."""
    done = coinbook_import(database_url, tmp_path, FIXTURES / "kraken_ledgers.csv", "imp-binance")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stdout.strip() == (
        "import refused: kraken_ledgers.csv: kraken_ledgers is the export of a kraken exchange account, but "
        "'imp-binance' is an exchange account on binance: import it into a kraken exchange account, or write it in "
        "the generic template (pipelines/sources/files/TEMPLATE.md), which any account takes")
    with pytest.raises(FileRefused, match="ledger_live is the export of a wallet account, but 'imp-htx' is an "
                                          "exchange account on htx"):
        import_file(wh, FIXTURES / "ledger_live.csv", "imp-htx")
    assert written(database_url, "imp-binance") == written(database_url, "imp-htx") == (0, 0, 0)

    wallet = import_file(wh, FIXTURES / "ledger_live.csv", "imp-ledger")  # a wallet account takes it
    assert (wallet.format, wallet.balanced, wallet.loaded_new) == ("ledger_live", True, wallet.records)
    assert wallet.records > 0
    generic = import_file(wh, FIXTURES / "generic.csv", "imp-htx")  # the template goes anywhere
    assert generic.format == "generic" and generic.loaded_new == generic.records > 0


def test_the_inbox_moves_a_refused_file_aside_with_its_reason(database_url: str, tmp_path: Path) -> None:
    """Before: the run failed with a traceback and the file stayed in the inbox for good (its run key was used)."""
    from pipelines.defs.imports.sensors import import_inbox_sensor
    from tests.support import definitions_for, settings_for

    inbox = tmp_path / "inbox"
    folder = inbox / TENANT / "imp-binance"
    folder.mkdir(parents=True)
    dropped = folder / "kraken.csv"
    dropped.write_bytes((FIXTURES / "kraken_ledgers.csv").read_bytes())
    defs = definitions_for(database_url, "http://127.0.0.1:9", import_inbox=inbox)
    instance = dg.DagsterInstance.ephemeral()
    sensor = import_inbox_sensor(settings_for(database_url, "http://127.0.0.1:9", import_inbox=inbox))
    (request,) = sensor(dg.build_sensor_context(instance=instance)).run_requests

    run = defs.resolve_job_def("file_import").execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags, raise_on_error=False)
    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    assert failure.step_failure_data.user_failure_data.description.startswith(
        "kraken.csv: kraken_ledgers is the export of a kraken exchange account")
    assert not dropped.exists()
    (moved,) = (folder / "refused").glob("*-kraken.csv")
    reason = (folder / "refused" / f"{moved.name}.reason.txt").read_text()
    assert reason.startswith("kraken.csv: kraken_ledgers is the export of a kraken exchange account, but "
                             "'imp-binance' is an exchange account on binance")
    assert sensor(dg.build_sensor_context(instance=instance)).run_requests == []  # nothing left to retry
    assert written(database_url, "imp-binance") == (0, 0, 0)


def test_a_thousand_malformed_rows_among_good_ones_are_quarantined_with_file_line_and_reason(
        database_url: str, wh: Warehouse, tmp_path: Path) -> None:
    rng = random.Random("coinbook-import-fuzz")
    template = ["2025-03-01T10:00:00Z", "buy", "ETH", "1.5", "USDT", "4500", "USDT", "4.5", "", "", ""]
    start = datetime(2025, 3, 1, tzinfo=UTC)
    good = [f"{(start + timedelta(minutes=i)).isoformat()},buy,SOL,{i + 1},USDT,{150 * (i + 1)},,,,,"
            for i in range(1500)]
    bad = [_malformed(rng, template, FUZZ_SPECS["generic"]) for _ in range(1000)]
    rows = good + bad
    rng.shuffle(rows)  # 40 % bad, evenly: a file with bad lines, not a file of junk
    path = tmp_path / "fuzzed.csv"
    path.write_text(GENERIC_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8", errors="surrogateescape")
    outcome = import_file(wh, path, "imp-htx")
    assert outcome.rows_in == 2500 and outcome.balanced
    assert outcome.quarantined == 1000 and outcome.lines_loaded == 1500
    with psycopg.connect(database_url) as conn:
        quarantined = conn.execute(
            "select (payload->>'line')::int, payload->>'file', reason, length(payload::text) from ops.quarantine "
            "where raw_table = 'raw.file_records' and payload->>'file_sha256' = %s", (outcome.file_sha256,)).fetchall()
    assert len(quarantined) == 1000
    assert all(file == "fuzzed.csv" and line >= 2 and f"line {line}:" in reason
               for line, file, reason, _ in quarantined)
    assert max(size for *_, size in quarantined) < 12_000  # the line, its reason and bounded cells
