"""As-of reports (issue 16 §4): what was known, when. On a database of this module's own, through the real CLI
(`coinbook import`, `coinbook report positions|disposals`), real dbt (the models up to int_lot_events, then the
disposals mart) and the pure lot engine:

    A:  an OTC account's Q1 2026 (tests/fixtures/asof/otc_2026q1.csv) and the cost of its deposit from outside
        (ops.cost_basis 20,000 USD) → positions and disposals as of 2026-03-31 (New York) known now = files A (their
        header names that knowledge time, K0)
    later: a late back-fill (otc_backfill.csv: a January purchase) and a cost-basis correction (22,000 USD)
    → the reports as of 2026-03-31 known at K0 are byte-identical to A; known now they show the changes, and only
      them. Expected figures are the fixtures' cells worked by hand (FIFO)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
from pipelines.services.users import add_user, remove_user
from pipelines.services.venues import SEED_VENUES, dbt_vars
from tests.support import admin_warehouse
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
COINBOOK = Path(sys.prefix) / "bin" / "coinbook"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asof"
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
TENANT, ACCOUNT = "aso", "aso-otc"
D = Decimal
DEPOSIT = "D-1"


@pytest.fixture(scope="module")
def database_url(cluster: Any) -> Iterator[str]:
    from pipelines.services.accounts import AccountSpec, register_accounts
    from warehouse.migrate import apply_migrations

    name = f"coinbook_asof_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    apply_migrations(url)
    register_accounts(Warehouse(url), [AccountSpec(TENANT, "As-of Co", "p1", "P1", ACCOUNT, "binance", ACCOUNT,
                                                   "live", None, kind="exchange")])
    with psycopg.connect(url) as conn:
        conn.execute("update ops.tenants set tax_timezone = 'America/New_York' where tenant_id = %s", (TENANT,))
    yield url
    cluster.drop_database(name)


def cli(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINBOOK_DATABASE_URL": url, "COINBOOK_HOME": str(home), "COLUMNS": "250"}
    done = subprocess.run([str(COINBOOK), *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def dbt(url: str, select: str) -> None:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "asof")}
    (target / "asof").mkdir(exist_ok=True)
    (target / "asof" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    done = subprocess.run([dbt_executable(), "build", "--select", select, "--exclude-resource-type", "test",
                           "--exclude-resource-type", "unit_test", "--project-dir", str(PROJECT), "--profiles-dir",
                           str(PROJECT), "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True,
                          text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-4000:]


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def deposit_entry(url: str) -> str:
    (entry,) = query(url, "select ledger_entry_id from marts.ledger where tenant_id = %s and entry_type = 'deposit'",
                     TENANT)
    return entry[0]


def report(url: str, home: Path, kind: str, out: Path, known_at: str | None = None) -> tuple[bytes, str]:
    args = ["report", kind, "--tenant", TENANT, "--as-of", "2026-03-31", "--out", str(out)]
    done = cli(url, home, *args, *(["--known-at", known_at] if known_at else []))
    path = Path(done.stdout.strip().splitlines()[-1].strip())
    return path.read_bytes(), done.stdout


def known_at(content: bytes) -> str:
    """The knowledge time a report's header names (the instant it was produced at, when --known-at was not given)."""
    (line,) = [line for line in content.decode().splitlines() if line.startswith("# known_at: ")]
    return line.removeprefix("# known_at: ").split(": ")[0]


def rows(content: bytes) -> list[dict[str, str]]:
    lines = [line for line in content.decode().splitlines() if not line.startswith("# ")]
    names = lines[0].split(",")
    return [dict(zip(names, line.split(","), strict=True)) for line in lines[1:]]


def slices(content: bytes) -> list[tuple[str, ...]]:
    """(disposal record, lot record, quantity, proceeds, cost, term) per slice; records by their file record_id."""
    return [(r["disposal_event_id"], r["lot_event_id"], r["quantity"], r["proceeds"], r["cost"], r["term"])
            for r in rows(content)]


def test_a_past_report_is_reperformed_byte_for_byte_and_the_current_one_shows_the_changes(
        database_url: str, tmp_path: Path) -> None:
    url, home = database_url, tmp_path / "home"
    cli(url, home, "import", str(FIXTURES / "otc_2026q1.csv"), "--account", ACCOUNT)
    dbt(url, "+int_lot_events")
    deposit = deposit_entry(url)
    with psycopg.connect(url) as conn:
        conn.execute("insert into ops.cost_basis (tenant_id, entry_id, cost, acquired_at, note) values "
                     "(%s, %s, 20000, '2024-06-01T00:00:00Z', 'broker statement 2024')", (TENANT, deposit))
    positions_a, said = report(url, home, "positions", tmp_path / "a")
    disposals_a, _ = report(url, home, "disposals", tmp_path / "a")
    assert "as of 2026-03-31T23:59:59.999999-04:00" in said and "America/New_York" in said

    # what happened by the end of 31 March in New York: T-3 (02:00 UTC on 1 April) in, T-4 (20 April) out
    held = {r["asset"]: D(r["quantity"]) for r in rows(positions_a)}
    assert held == {"BTC": D("1") + D("0.5") - D("0.8") - D("0.1"), "USD": D(-30000 - 15 + 56000 - 28 + 7000)}
    events = dict(query(url, "select l.ledger_entry_id, f.venue_record_id from marts.ledger l join raw.file_records f "
                             "using (tenant_id, account_id, source, source_record_id) where l.tenant_id = %s", TENANT))

    def named(content: bytes) -> list[tuple[str, ...]]:
        return [(events[d], events[lot.split(">")[0]], *rest) for d, lot, *rest in slices(content)]

    # FIFO: both sales come out of the deposit (basis 20,000 for 1 BTC, held since 2024: long term)
    assert named(disposals_a) == [("T-2", DEPOSIT, "0.8", "55972", "16000", "long"),
                                  ("T-3", DEPOSIT, "0.1", "7000", "2000", "long")]

    # later: a late back-fill, a cost-basis correction by the accountant's own login, and the models again
    cli(url, home, "import", str(FIXTURES / "otc_backfill.csv"), "--account", ACCOUNT)
    accountant = f"asof_{uuid.uuid4().hex[:8]}"
    admin = admin_warehouse(url)
    password = add_user(admin, accountant, "accountant", [TENANT])
    try:
        with psycopg.connect(make_conninfo(url, user=accountant, password=password)) as conn:
            conn.execute("update ops.cost_basis set cost = 22000, note = 'corrected: fees' where tenant_id = %s",
                         (TENANT,))
    finally:
        remove_user(admin, accountant)
    dbt(url, "+int_lot_events")

    # the auditor re-performs each report at the knowledge time its header names
    assert report(url, home, "positions", tmp_path / "k0", known_at(positions_a))[0] == positions_a
    assert report(url, home, "disposals", tmp_path / "k0", known_at(disposals_a))[0] == disposals_a

    positions_now, _ = report(url, home, "positions", tmp_path / "now")
    disposals_now, _ = report(url, home, "disposals", tmp_path / "now")
    now = {r["asset"]: D(r["quantity"]) for r in rows(positions_now)}
    assert {a: now[a] - held[a] for a in now} == {"BTC": D("0.3"), "USD": D(-27000)}  # the back-fill, nothing else
    # the January lot is now the oldest (FIFO), and the deposit's cost is 22,000; proceeds split by quantity
    events.update(query(url, "select l.ledger_entry_id, f.venue_record_id from marts.ledger l join raw.file_records f "
                             "using (tenant_id, account_id, source, source_record_id) where l.tenant_id = %s", TENANT))
    assert named(disposals_now) == [("T-2", "T-0", "0.3", "20989.5", "27000", "short"),
                                    ("T-2", DEPOSIT, "0.5", "34982.5", "11000", "long"),
                                    ("T-3", DEPOSIT, "0.1", "7000", "2200", "long")]
    assert positions_now != positions_a and disposals_now != disposals_a

    # who changed the basis, and when, is kept: the history the K0 report read
    history = query(url, "select op, recorded_by, (row_data ->> 'cost')::numeric from ops.cost_basis_history "
                         "where tenant_id = %s order by history_id", TENANT)
    assert history == [("insert", "coinbook_pipeline", D(20000)), ("update", accountant, D(22000))]


def test_known_now_and_as_of_the_last_day_is_what_the_marts_say(database_url: str, tmp_path: Path) -> None:
    """The ledger's treatment is the marts' own: as of any date after the last record, known now, the report is
    marts.disposals row for row (the tax_lots asset's engine run and the dbt mart, on models built after the last
    change: the marts read ops.cost_basis when they are built, the as-of report reads its history)."""
    from pipelines.domain.asof import DISPOSAL_COLUMNS
    from pipelines.services.lots import compute_tax_lots
    from pipelines.services.reports.asof import disposals_as_of, positions_as_of

    url = database_url
    if not query(url, "select to_regclass('intermediate.int_lot_events') is not null")[0][0]:
        cli(url, tmp_path, "import", str(FIXTURES / "otc_2026q1.csv"), "--account", ACCOUNT)
        dbt(url, "+int_lot_events")
    compute_tax_lots(Warehouse(url), "asof-test")
    dbt(url, "disposals")
    far, now = datetime(2100, 1, 1, tzinfo=UTC), datetime.now(UTC)
    with psycopg.connect(url) as conn:
        mart = conn.execute(f"select {', '.join(DISPOSAL_COLUMNS)} from marts.disposals where tenant_id = %s "
                            "order by disposed_at, disposal_event_id, slice_no", (TENANT,)).fetchall()
        assert disposals_as_of(conn, TENANT, far, now) == mart
        assert len(mart) >= 4
        held = conn.execute("select account_id, asset, sum(quantity) from intermediate.int_ledger where tenant_id = %s "
                            "group by 1, 2 order by 1, 2", (TENANT,)).fetchall()
        assert [(a, asset, q) for _, _, a, asset, q, _, _ in positions_as_of(conn, TENANT, far, now)] == held
        # every ledger row found its raw record (the as-known join leaves none out)
        (entries,) = conn.execute("select count(*) from marts.ledger where tenant_id = %s", (TENANT,)).fetchone()
        from pipelines.services.reports.asof import ledger_as_known
        assert len(ledger_as_known(conn, TENANT, far, now)) == entries
