"""The loaders that check rows themselves — the CSV importer (sources/files) and the tick loader (sources/prices/
ticks.py) — must reject everything the Great Expectations suite of their table would quarantine: a row they let
in has to pass every row rule of expectations/suites.py. Checked two ways: every rule, broken on purpose in a
valid row, is rejected by the loader; and random rows the loader accepts all pass every rule, evaluated here in
Python the way GX evaluates them in SQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expectations.suites import Rule, suite_for
from pipelines.services.imports import record_rows
from pipelines.sources.files import parse_export
from pipelines.sources.prices.ticks import final_columns, prepare_ticks
from warehouse.files import FILE_COLUMNS

NOW = datetime.now(UTC)
CSV_SUITE, TICK_SUITE = suite_for("raw.file_records"), suite_for("raw.price_ticks")


def passes(rule: Rule, row: dict[str, Any]) -> bool:
    """One row rule on one row, as GX evaluates it (row rules other than not-null ignore nulls; the time rule's
    upper bound, filled in when the gate runs, is now + 1 day)."""
    k, kind = rule.kwargs, rule.expectation
    if kind == "expect_column_values_to_not_be_null":
        return row.get(k["column"]) is not None
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = row.get(k["column_A"]), row.get(k["column_B"])
        return a is None or b is None or a >= b
    value = row.get(k["column"])
    if value is None:
        return True
    if kind == "expect_column_values_to_be_in_set":
        return value in k["value_set"]
    if kind == "expect_column_values_to_match_regex":
        return re.search(k["regex"], value) is not None
    if kind == "expect_column_values_to_be_between":
        low = k["min_value"]
        if isinstance(low, str):  # a timestamp rule
            return datetime.fromisoformat(low) <= value <= NOW + timedelta(days=1)
        return value > low if k.get("strict_min") else value >= low
    raise AssertionError(f"no evaluator for {kind}: add one, or the coverage is not checked")


def failing(suite: Any, row: dict[str, Any]) -> list[str]:
    return [rule.check_name for rule in suite.row_rules if not passes(rule, row)]


# ── CSV imports (the generic template: every column is the user's) ─────────────────────────────────────────
HEADER = "timestamp,type,base_asset,base_quantity,quote_asset,quote_quantity,fee_asset,fee_quantity,record_id,txid,note"
VALID = {"timestamp": "2025-03-01T10:00:00Z", "type": "buy", "base_asset": "BTC", "base_quantity": "0.5",
         "quote_asset": "USDT", "quote_quantity": "30000", "fee_asset": "BNB", "fee_quantity": "0.01",
         "record_id": "r1", "txid": "", "note": ""}


def csv_rows(*lines: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """The raw.file_records rows the importer would load from these lines, and how many lines it rejected."""
    text = HEADER + "\n" + "\n".join(",".join(line[c] for c in HEADER.split(",")) for line in lines) + "\n"
    result = parse_export(text, "generic")
    rows = record_rows(result.records, tenant_id="t", account_id="a", fmt="generic", file_name="f.csv",
                       file_sha256="0" * 64, run_id=None)
    return [dict(zip(FILE_COLUMNS, row, strict=True)) for row in rows], len(result.rejected)


# each row rule of raw.file_records → a line that breaks it (or why no file line can)
CSV_BREAKS: dict[str, dict[str, str] | str] = {
    "expect_column_values_to_not_be_null(record_type)": {"type": ""},
    "expect_column_values_to_be_in_set(record_type)": {"type": "gift"},
    "expect_column_values_to_not_be_null(occurred_at)": {"timestamp": ""},
    "expect_column_values_to_be_between(occurred_at)": {"timestamp": "2008-12-31T00:00:00Z"},
    "expect_column_values_to_match_regex(base_asset)": {"base_asset": "BTC$"},
    "expect_column_values_to_match_regex(quote_asset)": {"quote_asset": "U SD"},
    "expect_column_values_to_be_in_set(side)": "set by the parser from `type` (buy/sell), never from a cell",
    "expect_column_values_to_be_between(quantity)": {"base_quantity": "0"},
    "expect_column_values_to_be_between(price)": {"quote_quantity": "0"},
    "expect_column_values_to_be_between(cost)": {"quote_quantity": "-5"},
    "expect_column_values_to_match_regex(asset)": {"type": "deposit", "base_asset": "ÉTH", "quote_asset": "",
                                                   "quote_quantity": ""},
    "expect_column_values_to_be_between(amount)": {"type": "deposit", "base_quantity": "-1", "quote_asset": "",
                                                   "quote_quantity": ""},
    "expect_column_values_to_be_between(fee_amount)": {"fee_quantity": "-0.01"},
    "expect_column_values_to_match_regex(fee_asset)": {"fee_asset": "B/NB"},
}


def test_the_valid_line_passes_and_every_csv_rule_has_a_breaking_line() -> None:
    rows, rejected = csv_rows(VALID)
    assert rejected == 0 and len(rows) == 1 and failing(CSV_SUITE, rows[0]) == []
    assert set(CSV_BREAKS) == {rule.check_name for rule in CSV_SUITE.row_rules}


@pytest.mark.parametrize("check", sorted(CSV_BREAKS))
def test_a_csv_line_that_breaks_a_rule_is_rejected_by_the_importer(check: str) -> None:
    change = CSV_BREAKS[check]
    if isinstance(change, str):
        pytest.skip(change)
    rows, rejected = csv_rows({**VALID, **change})
    assert rejected == 1 and rows == [], f"{check}: the importer let {change} through"


CELL = st.text(st.sampled_from("ABCXYZabc019._-/ $É€"), max_size=8)
NUMBER = st.one_of(st.sampled_from(["0", "-1", "1e3", "0.000000000000000001", "1,000", "$5", ""]),
                   st.decimals(min_value=-10, max_value=10**6, places=8, allow_nan=False).map(str))
TIME = st.one_of(st.sampled_from(["2008-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "2025-02-30T00:00:00Z", "x"]),
                 st.datetimes(min_value=datetime(2008, 1, 1), max_value=datetime(2030, 1, 1)).map(
                     lambda d: d.isoformat() + "Z"))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "timestamp": TIME, "type": st.sampled_from(["buy", "sell", "deposit", "withdrawal", "income:staking", "fee",
                                                "swap"]),
    "base_asset": CELL, "base_quantity": NUMBER, "quote_asset": CELL, "quote_quantity": NUMBER,
    "fee_asset": CELL, "fee_quantity": NUMBER}))
def test_whatever_the_importer_accepts_passes_the_suite(line: dict[str, str]) -> None:
    rows, _ = csv_rows({**VALID, **{k: v.replace(",", "") for k, v in line.items()}})
    for row in rows:
        assert failing(CSV_SUITE, row) == [], row


# ── price ticks ─────────────────────────────────────────────────────────────────────────────────────────────
TICK = {"venue": "binance", "symbol": "BTC/USDT", "observed_at": "2026-03-01T10:00:00Z", "price": "65000.5",
        "size": "0.25", "tick_id": "1"}


def tick_rows(*ticks: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    table = pa.table({c: pa.array([t[c] for t in ticks], pa.string()) for c in TICK})
    batch = prepare_ticks(table, now=NOW)
    final = final_columns(batch.table).to_pylist()
    for row in final:  # the loader writes text; the columns are numeric and timestamptz
        row.update({k: Decimal(row[k]) for k in ("price", "size") if row.get(k) is not None})
        row["observed_at"] = datetime.fromisoformat(row["observed_at"] + ":00")
    return final, len(batch.rejects)


TICK_BREAKS: dict[str, dict[str, str]] = {
    "expect_column_values_to_not_be_null(symbol)": {"symbol": ""},
    "expect_column_values_to_match_regex(symbol)": {"symbol": "btc/usdt"},
    "expect_column_values_to_match_regex(base_asset)": {"symbol": "BT C/USDT"},
    "expect_column_values_to_match_regex(quote_asset)": {"symbol": "BTC/US$"},
    "expect_column_values_to_not_be_null(observed_at)": {"observed_at": ""},
    "expect_column_values_to_be_between(observed_at)": {"observed_at": (NOW + timedelta(days=3)).isoformat()},
    "expect_column_values_to_not_be_null(price)": {"price": ""},
    "expect_column_values_to_be_between(price)": {"price": "0"},
    "expect_column_values_to_be_between(size)": {"size": "-1"},
}


def test_the_valid_tick_passes_and_every_tick_rule_has_a_breaking_tick() -> None:
    rows, rejected = tick_rows(TICK)
    assert rejected == 0 and len(rows) == 1 and failing(TICK_SUITE, rows[0]) == []
    assert set(TICK_BREAKS) == {rule.check_name for rule in TICK_SUITE.row_rules}


@pytest.mark.parametrize("check", sorted(TICK_BREAKS))
def test_a_tick_that_breaks_a_rule_is_rejected_by_the_loader(check: str) -> None:
    rows, rejected = tick_rows({**TICK, **TICK_BREAKS[check]})
    assert rejected == 1 and rows == [], f"{check}: the loader let {TICK_BREAKS[check]} through"


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "symbol": st.text(st.sampled_from("ABCbc01/:.-_ $"), max_size=12),
    "observed_at": st.one_of(TIME, st.integers(-10**3, 10**14).map(str)),
    "price": NUMBER, "size": NUMBER}))
def test_whatever_the_tick_loader_accepts_passes_the_suite(tick: dict[str, str]) -> None:
    rows, _ = tick_rows({**TICK, **tick})
    for row in rows:
        assert failing(TICK_SUITE, row) == [], row


# ── one asset-code rule (constants.ASSET_CODE) for the importer, the exchange rows and the gate ─────────────────
REAL_CODES = ("USDC.E", "BTC-PERP", "1000SHIB", "ETH2.S", "BSC_USD", "A" * 32)  # bridged, perp, scaled, staked


@pytest.mark.parametrize("code", REAL_CODES)
def test_a_real_asset_code_is_accepted_by_the_importer_and_passes_every_suite(code: str) -> None:
    from pipelines.sources.exchanges.normalise import normalise_balances, normalise_trade, normalise_transfer

    rows, rejected = csv_rows({**VALID, "base_asset": code, "fee_asset": code.lower()},
                              {**VALID, "type": "deposit", "base_asset": code, "quote_asset": "", "quote_quantity": "",
                               "record_id": "r2"})
    assert rejected == 0 and [r["base_asset"] for r in rows][:1] == [code] and rows[1]["asset"] == code
    assert all(failing(CSV_SUITE, row) == [] for row in rows)
    ctx = {"tenant_id": "t", "account_id": "a", "source": "kraken", "run_id": None}
    balance = normalise_balances({code: {"free": "1", "used": "0", "total": "1"}}, **ctx, fetched_ms=1_760_000_000_000)
    trade = normalise_trade({"id": "1", "symbol": f"{code}/USDT", "side": "buy", "price": "1", "amount": "2",
                             "cost": "2", "timestamp": 1_760_000_000_000, "fee": {"cost": "0.1", "currency": code}},
                            **ctx)
    transfer = normalise_transfer({"id": "w1", "type": "withdrawal", "currency": code, "amount": "1", "status": "ok",
                                   "timestamp": 1_760_000_000_000, "fee": {"cost": "0.1", "currency": code}}, **ctx)
    for entity, row in (("balances", balance[0]), ("trades", trade), ("transfers", transfer)):
        assert failing(suite_for(f"raw.kraken_{entity}"), row) == [], (entity, row)


@pytest.mark.parametrize("code", ("A" * 33, ".USDC", "-PERP", "BTC/USDT", "US D", "ÉTH"))
def test_what_the_rule_refuses_the_importer_and_the_gate_both_refuse(code: str) -> None:
    rows, rejected = csv_rows({**VALID, "type": "deposit", "base_asset": code, "quote_asset": "",
                               "quote_quantity": ""})
    assert (rows, rejected) == ([], 1)
    transfer = {"asset": code, "fee_asset": None}
    assert "expect_column_values_to_match_regex(asset)" in failing(suite_for("raw.binance_transfers"), transfer)
