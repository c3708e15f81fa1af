"""The Great Expectations gate on a real PostgreSQL: failing rows are quarantined with the reason, the run
goes on; a table-level failure or a flood of bad rows fails the gate."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from expectations.gate import run_gate
from pipelines.constants import ASSET_CODE
from tests.support import admin_warehouse
from warehouse.cluster import LocalCluster

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture()
def gate_db(cluster: LocalCluster) -> Iterator[str]:
    """A fresh, migrated database on the project's private cluster, dropped after the test."""
    name = f"coinbook_gate_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    yield url
    cluster.drop_database(name)


def trade(i: int, **override: Any) -> dict[str, Any]:
    row = {"tenant_id": "t1", "account_id": "a1", "source": "binance", "source_record_id": f"BTC/USDT:{i}",
           "occurred_at": T0 + timedelta(minutes=i), "symbol": "BTC/USDT", "base_asset": "BTC",
           "quote_asset": "USDT", "side": "buy" if i % 2 else "sell", "price": Decimal("60000.5"),
           "quantity": Decimal("0.01"), "cost": Decimal("600.005"), "fee_amount": Decimal("0.00001"),
           "fee_asset": "BTC", "order_id": str(i), "is_maker": False, "payload": {"id": i}}
    row.update(override)
    row["record_hash"] = override.get("record_hash") or hashlib.sha256(str(sorted(row.items())).encode()).hexdigest()
    return row


def insert(url: str, table: str, rows: list[dict[str, Any]]) -> None:
    with psycopg.connect(url) as conn:
        for row in rows:
            cols = list(row)
            values = [Jsonb(v) if isinstance(v, dict) else v for v in row.values()]
            conn.execute(f"insert into raw.{table} ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})",
                         values)


@contextmanager
def tampering(url: str) -> Iterator[psycopg.Connection]:
    """The superuser with triggers off (raw is append-only, V018): what someone with the server's keys could do."""
    with psycopg.connect(admin_warehouse(url).database_url) as conn:
        conn.execute("set session_replication_role = replica")
        yield conn


def quarantined(url: str) -> set[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return {tuple(r) for r in conn.execute("select source_record_id, check_name, reason from ops.quarantine")}


def test_clean_table_passes_and_quarantines_nothing(gate_db: str) -> None:
    insert(gate_db, "binance_trades", [trade(i) for i in range(50)])
    result = run_gate(gate_db, "raw.binance_trades", "run-1")
    assert result.passed and result.rows_checked == 50 and result.quarantined_new == 0
    assert all(e.success for e in result.expectations)
    assert quarantined(gate_db) == set()


def test_bad_rows_are_quarantined_with_the_reason_and_the_run_goes_on(gate_db: str) -> None:
    good = [trade(i) for i in range(100)]
    bad = [trade(101, quantity=Decimal("-3.2")), trade(102, side="hold"), trade(103, occurred_at=None)]
    insert(gate_db, "binance_trades", good + bad)
    result = run_gate(gate_db, "raw.binance_trades", "run-1", max_quarantine_ratio=0.05)
    assert result.passed, result.describe()
    assert quarantined(gate_db) == {
        ("BTC/USDT:101", "expect_column_values_to_be_between(quantity)", "quantity = -3.2 is not > 0"),
        ("BTC/USDT:102", "expect_column_values_to_be_in_set(side)", "side = 'hold' is not one of buy, sell"),
        ("BTC/USDT:103", "expect_column_values_to_not_be_null(occurred_at)", "occurred_at is missing"),
    }
    with psycopg.connect(gate_db) as conn:
        payload, run_id = conn.execute("select payload, run_id from ops.quarantine "
                                       "where source_record_id = 'BTC/USDT:101'").fetchone()  # type: ignore[misc]
    assert payload == {"id": 101} and run_id == "run-1"
    again = run_gate(gate_db, "raw.binance_trades", "run-2")
    assert again.passed and again.quarantined_new == 0 and again.quarantined_total == 3


def test_negative_deposit_is_quarantined(gate_db: str) -> None:
    deposit = {"tenant_id": "t1", "account_id": "a1", "source": "binance", "source_record_id": "deposit:d1:ok",
               "transfer_id": "d1", "transfer_type": "deposit", "occurred_at": T0, "asset": "USDT",
               "amount": Decimal("-250"), "status": "ok", "payload": {"id": "d1"}, "record_hash": "a" * 64}
    fine = {**deposit, "source_record_id": f"deposit:d{2}:ok", "transfer_id": "d2", "amount": Decimal("10")}
    insert(gate_db, "binance_transfers", [deposit] + [{**fine, "source_record_id": f"deposit:x{i}:ok",
                                                       "transfer_id": f"x{i}"} for i in range(30)])
    result = run_gate(gate_db, "raw.binance_transfers", "run-1")
    assert result.passed
    assert quarantined(gate_db) == {("deposit:d1:ok", "expect_column_values_to_be_between(amount)",
                                     "amount = -250 is not > 0")}


def partitions(url: str) -> dict[tuple[str, str], tuple[int, int, bool, datetime | None]]:
    with psycopg.connect(url) as conn:
        return {(t, a): (n, bad, held, through) for t, a, n, bad, held, through in conn.execute(
            "select tenant_id, account_id, rows_checked, quarantined, held, passed_through from ops.gate_partitions")}


def test_too_many_bad_rows_hold_back_that_account_alone(gate_db: str) -> None:
    """The limit is per tenant, account and source: t1/a1's 3 zero prices in 13 rows hold it back; t2/a2's one bad
    row in 21 is quarantined, and nothing else; the table is not blocked (no table-level failure)."""
    zero_priced = [trade(i, price=Decimal(0)) for i in range(10, 13)]
    other = [trade(i, tenant_id="t2", account_id="a2") for i in range(100, 120)]
    insert(gate_db, "binance_trades", [trade(i) for i in range(10)] + zero_priced + other
           + [trade(120, tenant_id="t2", account_id="a2", side="hold")])
    result = run_gate(gate_db, "raw.binance_trades", "run-1", max_quarantine_ratio=0.05)
    assert not result.passed and not result.blocking and result.quarantined_total == 4
    assert [(h.tenant_id, h.account_id, h.rows, h.quarantined) for h in result.held] == [("t1", "a1", 13, 3)]
    assert "systematically" in result.describe() and "HELD t1/a1" in result.describe()
    assert partitions(gate_db) == {("t1", "a1"): (13, 3, True, None),  # never passed: none of its rows go on
                                   ("t2", "a2"): (21, 1, False, partitions(gate_db)[("t2", "a2")][3])}
    assert partitions(gate_db)[("t2", "a2")][3] is not None


def test_a_hold_keeps_the_last_good_data_and_lifts_when_the_source_recovers(gate_db: str) -> None:
    insert(gate_db, "binance_trades", [trade(i) for i in range(40)])
    assert run_gate(gate_db, "raw.binance_trades", "run-1").passed
    first_through = partitions(gate_db)[("t1", "a1")][3]
    assert run_gate(gate_db, "raw.binance_trades", "run-1b").reused_from_run == "run-1"
    good_through = partitions(gate_db)[("t1", "a1")][3]
    assert good_through > first_through  # unchanged and passed again: its rows up to the later check are good
    insert(gate_db, "binance_trades", [trade(i, quantity=Decimal(-1)) for i in range(40, 44)])  # 4 of 44 > 5 %
    held = run_gate(gate_db, "raw.binance_trades", "run-2")
    assert not held.passed and partitions(gate_db)[("t1", "a1")] == (44, 4, True, good_through)
    insert(gate_db, "binance_trades", [trade(i) for i in range(44, 84)])  # 4 of 84 < 5 %: recovered
    released = run_gate(gate_db, "raw.binance_trades", "run-3")
    assert released.passed and not released.held
    rows, bad, is_held, through = partitions(gate_db)[("t1", "a1")]
    assert (rows, bad, is_held) == (84, 4, False) and through > good_through


def test_one_or_two_odd_rows_never_hold_a_small_account(gate_db: str) -> None:
    insert(gate_db, "binance_trades", [trade(i) for i in range(8)] + [trade(9, price=Decimal(0)),
                                                                       trade(10, side="hold")])
    result = run_gate(gate_db, "raw.binance_trades", "run-1")  # 2 of 10 = 20 %, but only 2 rows: quarantined
    assert result.passed and result.quarantined_total == 2 and not result.held


def test_lines_the_importer_rejected_are_not_the_gates_business(gate_db: str) -> None:
    """A CSV's rejected lines sit in ops.quarantine under raw.file_records (with file, line and reason) but
    never reached the raw table: they count against no limit."""
    insert(gate_db, "binance_trades", [trade(i) for i in range(10)])
    with psycopg.connect(gate_db) as conn:
        for line in range(2, 12):
            conn.execute("""insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id,
                            check_name, reason) values ('t1', 'a1', 'binance', 'raw.binance_trades', %s,
                            'import:binance', 'rejected by the importer')""", (f"file:{line}",))
    result = run_gate(gate_db, "raw.binance_trades", "run-1")
    assert result.passed and result.quarantined_total == 0 and partitions(gate_db)[("t1", "a1")][:3] == (10, 0, False)


def test_table_level_failures_fail_the_gate(gate_db: str) -> None:
    insert(gate_db, "binance_trades", [trade(i) for i in range(20)] + [trade(99, record_hash="not-a-hash")])
    result = run_gate(gate_db, "raw.binance_trades", "run-1")
    assert not result.passed
    assert any("record_hash" in f for f in result.table_level_failures)
    with psycopg.connect(gate_db) as conn:
        conn.execute("alter table raw.binance_trades add column surprise text")
    drifted = run_gate(gate_db, "raw.binance_trades", "run-2")
    assert any(f.startswith("expect_table_columns_to_match_set") for f in drifted.table_level_failures)


def candle(i: int, **override: Any) -> dict[str, Any]:
    row = {"tenant_id": "public", "account_id": "public", "source": "binance", "source_record_id": f"BTC/USDT:1d:{i}",
           "symbol": "BTC/USDT", "base_asset": "BTC", "quote_asset": "USDT", "timeframe": "1d",
           "open_time": T0 + timedelta(days=i), "open": Decimal(100), "high": Decimal(110), "low": Decimal(90),
           "close": Decimal(105), "volume": Decimal("12.5"), "payload": {"t": i}}
    row.update(override)
    row["record_hash"] = hashlib.sha256(str(sorted(row.items())).encode()).hexdigest()
    return row


def test_candle_and_time_rules_quarantine_the_broken_candles(gate_db: str) -> None:
    broken = [candle(100, high=Decimal(80)),  # below its low, its open and its close
              candle(101, open_time=datetime(2008, 6, 1, tzinfo=UTC)),
              candle(102, open_time=datetime.now(UTC) + timedelta(days=3)),
              candle(103, base_asset="btc", timeframe="daily")]
    insert(gate_db, "binance_ohlcv", [candle(i) for i in range(80)] + broken)
    result = run_gate(gate_db, "raw.binance_ohlcv", "run-1")
    assert result.passed and result.failed_rows == 4, result.describe()
    got = {(rid, check): reason for rid, check, reason in quarantined(gate_db)}
    pair = "expect_column_pair_values_a_to_be_greater_than_b"
    assert got[("BTC/USDT:1d:100", f"{pair}(high,low)")] == "high = 80 is below low = 90"
    assert got[("BTC/USDT:1d:100", f"{pair}(high,open)")] == "high = 80 is below open = 100"
    assert got[("BTC/USDT:1d:100", f"{pair}(high,close)")] == "high = 80 is below close = 105"
    for rid in ("BTC/USDT:1d:101", "BTC/USDT:1d:102"):
        reason = got[(rid, "expect_column_values_to_be_between(open_time)")]
        assert reason.endswith("is before 2009-01-03 or more than a day in the future")
    assert got[("BTC/USDT:1d:103", "expect_column_values_to_match_regex(base_asset)")] == \
        f"base_asset = 'btc' does not match ^{ASSET_CODE}$"
    assert ("BTC/USDT:1d:103", "expect_column_values_to_match_regex(timeframe)") in got
    assert len(got) == 7 and result.quarantined_new == 7


def test_every_failing_row_is_quarantined_not_only_the_first_twenty(gate_db: str) -> None:
    # GX returns at most `partial_unexpected_count` (default 20) failing rows for SQL, even with COMPLETE.
    rows = [trade(i, quantity=Decimal("-1")) if i % 40 == 0 else trade(i) for i in range(2000)]
    insert(gate_db, "binance_trades", rows)
    result = run_gate(gate_db, "raw.binance_trades", "run-1")
    assert result.passed and result.quarantined_new == 50 and result.quarantined_total == 50, result.describe()
    quantity = next(e for e in result.expectations if e.check_name == "expect_column_values_to_be_between(quantity)")
    assert not quantity.success and quantity.unexpected_count == 50


def test_every_suite_matches_its_table_in_the_warehouse(gate_db: str) -> None:
    """The suites follow the migrations exactly: same tables, same columns, same order."""
    from expectations.suites import SUITES

    with psycopg.connect(gate_db) as conn:
        rows = conn.execute("""select table_schema || '.' || table_name, array_agg(column_name::text order by
                               ordinal_position) from information_schema.columns where table_schema = 'raw'
                               group by 1""").fetchall()
    tables = {name: tuple(columns) for name, columns in rows}
    # derivative fills are set aside before the gate and kept whole for later, read by no model (V021): no suite
    assert tables.pop("raw.exchange_derivatives")
    assert set(tables) == set(SUITES)
    assert all(SUITES[name].columns == columns for name, columns in tables.items())


def test_an_unchanged_table_keeps_its_verdict_and_any_change_is_validated(gate_db: str) -> None:
    insert(gate_db, "binance_trades", [trade(i) for i in range(40)])
    first = run_gate(gate_db, "raw.binance_trades", "run-1")
    assert first.passed and first.reused_from_run is None

    again = run_gate(gate_db, "raw.binance_trades", "run-2")
    assert again.reused_from_run == "run-1" and again.passed and again.rows_checked == 40
    assert again.expectations == first.expectations and "not validated again" in again.describe()

    insert(gate_db, "binance_trades", [trade(50, quantity=Decimal("-1"))])  # a new row: validated
    after_insert = run_gate(gate_db, "raw.binance_trades", "run-3")
    assert after_insert.reused_from_run is None and after_insert.quarantined_new == 1
    assert run_gate(gate_db, "raw.binance_trades", "run-4").reused_from_run == "run-3"

    # an in-place change of an old row (issue 16: price 0 by SQL, same row count, same newest ingested_at) is new
    # content: validated again, and the row is quarantined, not passed into staging on the old verdict
    with tampering(gate_db) as conn:
        conn.execute("update raw.binance_trades set price = 0, cost = 1 where source_record_id = %s",
                     (trade(7)["source_record_id"],))
    tampered = run_gate(gate_db, "raw.binance_trades", "run-4b")
    assert tampered.reused_from_run is None and tampered.quarantined_new == 1
    with tampering(gate_db) as conn:  # a deleted row too
        conn.execute("delete from raw.binance_trades where source_record_id = %s", (trade(8)["source_record_id"],))
    assert run_gate(gate_db, "raw.binance_trades", "run-4c").reused_from_run is None
    assert run_gate(gate_db, "raw.binance_trades", "run-4d").reused_from_run == "run-4c"

    # a stricter limit is a different verdict: validated again, and now it holds the account (2 of 40 > 1 %)
    strict = run_gate(gate_db, "raw.binance_trades", "run-5", max_quarantine_ratio=0.01, min_held_rows=1)
    assert strict.reused_from_run is None and not strict.passed and strict.held
    # a verdict that did not pass is never reused
    assert run_gate(gate_db, "raw.binance_trades", "run-6", max_quarantine_ratio=0.01,
                    min_held_rows=1).reused_from_run is None

    with psycopg.connect(gate_db) as conn:  # schema drift with the same rows: validated, and caught
        conn.execute("alter table raw.binance_trades add column surprise text")
    drifted = run_gate(gate_db, "raw.binance_trades", "run-7")
    assert drifted.reused_from_run is None and not drifted.passed
    assert run_gate(gate_db, "raw.binance_trades", "run-8", reuse=False).reused_from_run is None


def test_only_the_rows_ingested_after_the_last_verdict_are_validated_while_the_judged_rows_are_unchanged(
        gate_db: str) -> None:
    insert(gate_db, "binance_trades", [trade(i) for i in range(40)]
           + [trade(i, tenant_id="t2", account_id="a2") for i in range(100, 110)])
    first = run_gate(gate_db, "raw.binance_trades", "run-1")
    assert first.passed and first.rows_checked == 50 and first.validated_since is None
    t2_through = partitions(gate_db)[("t2", "a2")][3]

    insert(gate_db, "binance_trades", [trade(i) for i in range(40, 44)] + [trade(44, quantity=Decimal(-1))])
    day = run_gate(gate_db, "raw.binance_trades", "run-2")
    assert day.validated_since is not None and day.reused_from_run is None
    assert (day.rows_checked, day.rows_in_table, day.quarantined_new, day.passed) == (5, 55, 1, True)
    assert "5 new rows checked" in day.describe()
    assert {record for record, _, _ in quarantined(gate_db)} == {trade(44)["source_record_id"]}
    # the new rows' partition is judged on all its rows; the untouched one keeps its counts, passed up to now
    assert partitions(gate_db)[("t1", "a1")][:3] == (45, 1, False)
    assert partitions(gate_db)[("t2", "a2")][:3] == (10, 0, False)
    assert partitions(gate_db)[("t2", "a2")][3] > t2_through
    assert run_gate(gate_db, "raw.binance_trades", "run-3").reused_from_run == "run-2"

    # a row arriving late (ingested before the last verdict began, committed after) is among the judged rows'
    # digest: the whole table is validated again, and the late row's fault is found
    with psycopg.connect(gate_db) as conn:
        (through,) = conn.execute("select validated_through from ops.gate_verdicts").fetchone()  # type: ignore[misc]
    insert(gate_db, "binance_trades", [trade(45, price=Decimal(0), ingested_at=through - timedelta(seconds=1))])
    late = run_gate(gate_db, "raw.binance_trades", "run-4")
    assert late.validated_since is None and late.rows_checked == 56 and late.quarantined_new == 1

    # held partitions are judged again on an increment: new good rows dilute the bad share, and the hold lifts
    insert(gate_db, "binance_trades", [trade(i, tenant_id="t2", account_id="a2", quantity=Decimal(-1))
                                       for i in range(110, 113)])
    held = run_gate(gate_db, "raw.binance_trades", "run-5")
    assert held.validated_since is not None and held.rows_checked == 3 and not held.passed
    assert [(h.tenant_id, h.rows, h.quarantined) for h in held.held] == [("t2", 13, 3)]
    insert(gate_db, "binance_trades", [trade(i, tenant_id="t2", account_id="a2") for i in range(113, 160)])
    lifted = run_gate(gate_db, "raw.binance_trades", "run-6")
    assert lifted.validated_since is not None and lifted.rows_checked == 47 and lifted.passed and not lifted.held
    assert partitions(gate_db)[("t2", "a2")][:3] == (60, 3, False)

    # a table-level failure is never the base of an increment: the next run validates everything again
    insert(gate_db, "binance_trades", [trade(200, record_hash="not-a-hash")])
    broken = run_gate(gate_db, "raw.binance_trades", "run-7")
    assert broken.validated_since is not None and broken.blocking
    again = run_gate(gate_db, "raw.binance_trades", "run-8")
    assert again.validated_since is None and again.blocking and again.rows_checked == 107
