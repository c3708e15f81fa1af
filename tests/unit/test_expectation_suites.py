"""Every raw table has a well-formed suite that covers its columns (no database, no GX import)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from expectations.gate import (
    ExpectationOutcome,
    GateResult,
    PartitionVerdict,
    judge,
    judge_partitions,
    libpq_url,
    sqlalchemy_url,
)
from expectations.suites import (
    ASSET_CODE,
    CHAIN_SUITES,
    KEY_COLUMNS,
    SUITES,
    at_least,
    in_set,
    matches,
    not_null,
    plausible_time,
    positive,
    reason_for,
    suite_for,
)

MIGRATIONS = Path(__file__).resolve().parents[2] / "warehouse" / "migrations"
GX_EXPECTATIONS = {
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex", "expect_table_columns_to_match_set",
    "expect_compound_columns_to_be_unique", "expect_column_pair_values_a_to_be_greater_than_b",
}


def _raw_tables() -> dict[str, list[str]]:
    """Columns of every raw.* table, read from the migrations (the suites must follow them)."""
    sql = "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("V*.sql")))
    tables = {}
    for name, body in re.findall(r"create table if not exists (raw\.\w+) \(([^;]*?)\n\);", sql, re.S):
        columns = [line.split()[0] for line in body.splitlines()
                   if line.strip() and not line.strip().startswith(("primary key", "--", "unique", "foreign"))]
        tables[name] = columns
    return tables


def test_one_suite_per_raw_table_with_the_exact_column_set() -> None:
    tables = _raw_tables()  # the tables spelled out in the migrations (Binance's; V004 copies them per venue)
    assert set(tables) <= set(SUITES)
    for name, suite in SUITES.items():
        if name in {s.raw_table for s in CHAIN_SUITES} | {"raw.price_ticks"}:
            continue  # wallets, DeFi, files (V007) and ticks (V012) have their own shapes, checked below
        venue_entity = name.removeprefix("raw.").split("_", 1)
        assert suite.columns == SUITES[f"raw.binance_{venue_entity[1]}"].columns
    for name, columns in tables.items():
        assert list(SUITES[name].columns) == columns, name


@pytest.mark.parametrize("raw_table", sorted(SUITES))
def test_suite_is_well_formed_and_covers_every_typed_column(raw_table: str) -> None:
    suite = suite_for(raw_table)
    rules = [*suite.row_rules, *suite.table_rules]
    assert all(r.expectation in GX_EXPECTATIONS for r in rules)
    assert len({r.check_name for r in suite.row_rules}) == len(suite.row_rules)  # check names identify rules
    row_columns = {r.column for r in suite.row_rules} | {r.kwargs.get("column_A") for r in suite.row_rules}
    typed = set(suite.columns) - set(KEY_COLUMNS) - {"payload", "record_hash", "run_id", "ingested_at"}
    uncovered = typed - row_columns
    if raw_table.endswith("_trades"):  # a trade's fee may be negative (a maker rebate) or absent: any number goes
        uncovered -= {"fee_amount"}
    # identifiers the venue supplies verbatim are not judged row by row
    assert uncovered <= {"base_asset", "quote_asset", "order_id", "is_maker", "network", "address", "txid",
                         # on-chain identifiers and import provenance, kept as delivered
                         "own_addresses", "counterparties", "chain", "pool", "token_contract", "token_name",
                         "from_address", "to_address", "method", "log_index", "file_name", "file_sha256",
                         "line_numbers", "venue_record_id", "income_kind"}, uncovered
    assert all(r.reason for r in rules)
    assert any(r.expectation == "expect_compound_columns_to_be_unique" for r in suite.table_rules)


def test_unknown_table_has_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"no expectation suite for raw\.nope"):
        suite_for("raw.nope")


def test_row_level_rules_are_column_rules_and_table_rules_cover_the_table() -> None:
    for suite in SUITES.values():
        # a row-level rule must name the column(s) it judges, or a failing row cannot be explained
        assert all(r.column or {"column_A", "column_B"} <= set(r.kwargs) for r in suite.row_rules), suite.raw_table
        table = {r.check_name for r in suite.table_rules}
        assert "expect_table_columns_to_match_set" in table
        assert "expect_column_values_to_match_regex(record_hash)" in table


def test_reasons_name_the_offending_values() -> None:
    assert reason_for(positive("quantity"), {"quantity": Decimal("-3.200")}) == "quantity = -3.2 is not > 0"
    assert reason_for(in_set("side", ["buy", "sell"]), {"side": "hold"}) == "side = 'hold' is not one of buy, sell"
    assert reason_for(not_null("occurred_at"), {"occurred_at": None}) == "occurred_at is missing"
    # the regex's own braces survive (no str.format)
    assert reason_for(matches("asset", ASSET_CODE), {"asset": "usdt"}) == \
        f"asset = 'usdt' does not match {ASSET_CODE}"
    assert reason_for(at_least("high", "low"), {"high": Decimal(5), "low": Decimal("7.50")}) == \
        "high = 5 is below low = 7.5"
    when = datetime(2008, 1, 1, tzinfo=UTC)
    assert reason_for(plausible_time("open_time"), {"open_time": when}).startswith(
        "open_time = 2008-01-01T00:00:00+00:00 is before 2009-01-03")


def test_check_names_follow_the_quarantine_contract() -> None:
    assert positive("quantity").check_name == "expect_column_values_to_be_between(quantity)"
    assert at_least("high", "low").check_name == "expect_column_pair_values_a_to_be_greater_than_b(high,low)"
    unique = next(r for r in suite_for("raw.binance_trades").table_rules if "compound" in r.expectation)
    assert unique.check_name == f"expect_compound_columns_to_be_unique({','.join(KEY_COLUMNS)})"


def test_verdict_blocks_on_table_failures_and_holds_the_partitions_over_the_limit() -> None:
    ok = [ExpectationOutcome("expect_column_values_to_not_be_null(side)", "row", False, 2)]
    assert judge("raw.binance_trades", 100, ok, [], 2, 2, 0.05).passed
    judged = judge_partitions([PartitionVerdict("t1", "a1", "binance", 100, 6),   # 6 % > 5 %: held
                               PartitionVerdict("t2", "a2", "binance", 100, 5),   # 5 %: the limit is not exceeded
                               PartitionVerdict("t3", "a3", "binance", 10, 2)],   # 20 %, but 2 odd rows only
                              0.05)
    assert [p.held for p in judged] == [True, False, False] and judged[0].reason is not None
    assert "6 of 100 rows quarantined (6.0%)" in (judged[0].reason or "")
    assert [p.held for p in judge_partitions(judged, 0.05, min_held_rows=1)] == [True, False, True]
    flood = judge("raw.binance_trades", 210, ok, [], 13, 13, 0.05, held=[p for p in judged if p.held])
    assert not flood.passed and not flood.blocking and "HELD t1/a1" in flood.describe()
    assert "systematically" in flood.describe()
    broken = judge("raw.binance_trades", 100, [], ["expect_table_columns_to_match_set: drift"], 0, 0, 0.05)
    assert not broken.passed and broken.blocking and "table-level failures" in broken.describe()
    empty = judge("raw.binance_trades", 0, [], [], 0, 0, 0.05)
    assert empty.passed and empty.quarantine_ratio == 0.0
    assert empty.to_dict()["raw_table"] == "raw.binance_trades"
    assert GateResult.from_dict(flood.to_dict()) == flood  # a stored verdict reads back, its holds too


def test_urls_for_psycopg_and_for_gx() -> None:
    assert libpq_url("postgresql+psycopg2://postgres@127.0.0.1:5/db") == "postgresql://postgres@127.0.0.1:5/db"
    assert sqlalchemy_url("postgresql://postgres@127.0.0.1:5/db", "raw") == \
        "postgresql+psycopg2://postgres@127.0.0.1:5/db?options=-csearch_path%3Draw"
    assert sqlalchemy_url("postgresql://postgres@/db?host=/tmp/s", "raw") == \
        "postgresql+psycopg2://postgres@/db?host=/tmp/s&options=-csearch_path%3Draw"


def test_a_trade_fee_may_be_a_rebate_but_a_transfer_fee_may_not_be_negative() -> None:
    # ccxt's fee.cost < 0 is a rebate the venue paid (bitfinex.parse_trade negates the venue's FEE, which is > 0
    # for a maker rebate); a withdrawal's network fee below zero is nonsense
    def fee_rules(raw_table: str) -> list[str]:
        return [r.check_name for r in suite_for(raw_table).row_rules if r.column == "fee_amount"]

    assert fee_rules("raw.bitfinex_trades") == []
    assert fee_rules("raw.bitfinex_transfers") == ["expect_column_values_to_be_between(fee_amount)"]
