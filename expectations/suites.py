"""One Great Expectations suite per raw table, as code, versioned with the tables (warehouse/migrations).

Row-level rules identify the rows that break them: those rows are quarantined with the rule as the reason,
and the rest of the table goes on. Table-level rules describe the table as a whole: when one fails,
something systematic is wrong with the source and the models downstream must not build.

This module only describes the rules (plain data, no GX import); `expectations.gate` turns them into GX
expectations, so reading or testing a suite costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipelines import constants
from pipelines.constants import GENESIS

KEY_COLUMNS = ("tenant_id", "account_id", "source", "source_record_id")
COMMON_COLUMNS = (*KEY_COLUMNS, "payload", "record_hash", "run_id", "ingested_at")
EARLIEST = GENESIS.isoformat()  # no crypto record is older than the Bitcoin genesis block
ASSET_CODE = rf"^{constants.ASSET_CODE}$"
SYMBOL = rf"^{constants.SPOT_SYMBOL}$"  # ccxt unified spot symbol, e.g. BTC/USDT (derivatives are not spot trades)
TICK_SYMBOL = rf"^{constants.MARKET_SYMBOL}$"  # a price tick may quote a derivative (BTC/USDT:USDT)
TIMEFRAME = r"^[0-9]{1,3}[smhdwM]$"  # ccxt timeframes: 1m, 4h, 1d, 1w, 1M
TRANSFER_STATUSES = ["ok", "pending", "failed", "canceled"]  # ccxt parseTransactionStatus
# deposits and withdrawals; moves between the account's own wallets on the venue, seen from spot; income: a reward
# the venue lists with its transfers; fill: a trade's movement the venue lists with its transfers (Coinbase v2), kept
# but booked from the trades path (sources/exchanges/normalise.py coinbase_kind)
TRANSFER_TYPES = ["deposit", "withdrawal", "wallet_out", "wallet_in", "income", "fill"]


@dataclass(frozen=True)
class Rule:
    """One expectation: its GX class name (snake case, as GX reports it) and keyword arguments.
    `reason` is a template for the quarantine reason of a failing row: {value} is the offending value,
    {A} and {B} those of a column pair (plain replacement, so regexes like {1,20} are safe)."""

    expectation: str
    kwargs: dict[str, Any]
    reason: str = ""

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def check_name(self) -> str:
        k = self.kwargs
        pair = [k[c] for c in ("column_A", "column_B") if c in k]
        target = k.get("column") or ",".join(k.get("column_list", pair))
        return f"{self.expectation}({target})" if target else self.expectation


@dataclass(frozen=True)
class Suite:
    raw_table: str  # schema-qualified
    columns: tuple[str, ...]  # the exact column set of the table
    row_rules: tuple[Rule, ...]
    table_rules: tuple[Rule, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.raw_table.replace(".", "__")


def not_null(column: str) -> Rule:
    return Rule("expect_column_values_to_not_be_null", {"column": column}, f"{column} is missing")


def positive(column: str) -> Rule:
    return Rule("expect_column_values_to_be_between", {"column": column, "min_value": 0, "strict_min": True},
                f"{column} = {{value}} is not > 0")


def non_negative(column: str) -> Rule:
    return Rule("expect_column_values_to_be_between", {"column": column, "min_value": 0},
                f"{column} = {{value}} is negative")


def in_set(column: str, values: list[str]) -> Rule:
    return Rule("expect_column_values_to_be_in_set", {"column": column, "value_set": values},
                f"{column} = {{value}} is not one of {', '.join(values)}")


def matches(column: str, pattern: str) -> Rule:
    return Rule("expect_column_values_to_match_regex", {"column": column, "regex": pattern},
                f"{column} = {{value}} does not match {pattern}")


def plausible_time(column: str) -> Rule:
    # The upper bound ("now + 1 day") is filled in when the gate runs.
    return Rule("expect_column_values_to_be_between", {"column": column, "min_value": EARLIEST},
                f"{column} = {{value}} is before {GENESIS:%Y-%m-%d} or more than a day in the future")


def at_least(column_a: str, column_b: str) -> Rule:
    """column_a >= column_b on every row where both are present (e.g. a candle's high >= its low)."""
    return Rule("expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": column_a, "column_B": column_b, "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                f"{column_a} = {{A}} is below {column_b} = {{B}}")


def display(value: Any) -> str:
    """A value as a person reads it in a quarantine reason."""
    if value is None:
        return "NULL"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def reason_for(rule: Rule, row: Mapping[str, Any]) -> str:
    """The human reason a row failed `rule`; `row` holds the key columns and the checked column(s)."""
    if not rule.reason:
        return rule.check_name
    values = {"{value}": row.get(rule.column) if rule.column else None,
              "{A}": row.get(rule.kwargs.get("column_A", "")), "{B}": row.get(rule.kwargs.get("column_B", ""))}
    text = rule.reason
    for placeholder, value in values.items():
        text = text.replace(placeholder, display(value))
    return text


def table_rules(columns: tuple[str, ...]) -> tuple[Rule, ...]:
    return (
        Rule("expect_table_columns_to_match_set", {"column_set": list(columns), "exact_match": True},
             "the table's columns differ from the suite's (migration and suite out of step)"),
        Rule("expect_compound_columns_to_be_unique", {"column_list": list(KEY_COLUMNS)}, "duplicate record key"),
        Rule("expect_column_values_to_match_regex", {"column": "record_hash", "regex": r"^[0-9a-f]{64}$",
                                                     "mostly": 1.0}, "record_hash is not a sha256 hex digest"),
        Rule("expect_column_values_to_not_be_null", {"column": "payload"}, "raw payload missing"),
    )


def _suite(raw_table: str, typed: tuple[str, ...], rules: tuple[Rule, ...]) -> Suite:
    columns = (*KEY_COLUMNS, *typed, "payload", "record_hash", "run_id", "ingested_at")
    return Suite(raw_table, columns, rules, table_rules(columns))


BALANCES = _suite(
    "raw.binance_balances",
    ("asset", "free", "used", "total", "observed_at"),
    (not_null("asset"), matches("asset", ASSET_CODE), not_null("total"), non_negative("total"),
     non_negative("free"), non_negative("used"), not_null("observed_at"), plausible_time("observed_at")),
)
TRADES = _suite(
    "raw.binance_trades",
    ("occurred_at", "symbol", "base_asset", "quote_asset", "side", "price", "quantity", "cost", "fee_amount",
     "fee_asset", "order_id", "is_maker"),
    (not_null("occurred_at"), plausible_time("occurred_at"), not_null("symbol"), matches("symbol", SYMBOL),
     not_null("base_asset"), matches("base_asset", ASSET_CODE), not_null("quote_asset"),
     matches("quote_asset", ASSET_CODE), not_null("side"), in_set("side", ["buy", "sell"]), not_null("price"),
     positive("price"), not_null("quantity"), positive("quantity"), not_null("cost"), positive("cost"),
     # no sign rule on fee_amount: a negative fee is a rebate the venue paid (makers on Bitfinex, Binance's and
     # others' derivatives; ccxt's fee.cost < 0), which lowers the cost basis (int_lot_events)
     matches("fee_asset", ASSET_CODE)),
)
TRANSFERS = _suite(
    "raw.binance_transfers",
    ("transfer_id", "transfer_type", "occurred_at", "asset", "amount", "fee_amount", "fee_asset", "status",
     "network", "address", "txid"),
    (not_null("transfer_id"), not_null("transfer_type"), in_set("transfer_type", TRANSFER_TYPES),
     not_null("occurred_at"), plausible_time("occurred_at"), not_null("asset"), matches("asset", ASSET_CODE),
     not_null("amount"), positive("amount"), non_negative("fee_amount"), matches("fee_asset", ASSET_CODE),
     not_null("status"), in_set("status", TRANSFER_STATUSES)),
)
TICKERS = _suite(
    "raw.binance_tickers",
    ("symbol", "base_asset", "quote_asset", "observed_at", "last_price", "bid", "ask", "quote_volume"),
    (not_null("symbol"), matches("symbol", SYMBOL), matches("base_asset", ASSET_CODE),
     matches("quote_asset", ASSET_CODE), not_null("observed_at"), plausible_time("observed_at"),
     not_null("last_price"), positive("last_price"), non_negative("bid"), non_negative("ask"),
     at_least("ask", "bid"), non_negative("quote_volume")),
)
OHLCV = _suite(
    "raw.binance_ohlcv",
    ("symbol", "base_asset", "quote_asset", "timeframe", "open_time", "open", "high", "low", "close", "volume"),
    (not_null("symbol"), matches("symbol", SYMBOL), matches("base_asset", ASSET_CODE),
     matches("quote_asset", ASSET_CODE), not_null("timeframe"), matches("timeframe", TIMEFRAME),
     not_null("open_time"), plausible_time("open_time"), not_null("open"), positive("open"), not_null("high"),
     positive("high"), not_null("low"), positive("low"), not_null("close"), positive("close"),
     non_negative("volume"), at_least("high", "low"), at_least("high", "open"), at_least("high", "close"),
     at_least("open", "low"), at_least("close", "low")),
)

EXCHANGE_VENUES = ("binance", "coinbase", "kraken", "bitfinex", "htx")
# Every ccxt venue lands the same canonical columns (V004 creates its raw tables like Binance's), so every
# venue's table gets the same suite.
SUITES: dict[str, Suite] = {
    suite.raw_table.replace("raw.binance_", f"raw.{venue}_"):
        replace(suite, raw_table=suite.raw_table.replace("raw.binance_", f"raw.{venue}_"))
    for venue in EXCHANGE_VENUES for suite in (BALANCES, TRADES, TRANSFERS, TICKERS, OHLCV)
}


# Wallets, DeFi and files (V007). Token symbols on EVM chains are whatever a contract says (aEthWETH, UNI-V2, a
# spam token's advertisement): they are not held to ASSET_CODE; the registry decides what is valued.
CHAIN_SUITES = (
    _suite("raw.btc_transactions",
           ("txid", "occurred_at", "block_height", "direction", "amount", "fee_amount", "received", "sent",
            "own_addresses", "counterparties"),
           (not_null("txid"), matches("txid", r"^[0-9a-f]{64}$"), not_null("occurred_at"),
            plausible_time("occurred_at"), not_null("direction"), in_set("direction", ["in", "out", "self"]),
            not_null("amount"), non_negative("amount"), non_negative("fee_amount"), non_negative("received"),
            non_negative("sent"), not_null("block_height"), non_negative("block_height"))),
    replace(BALANCES, raw_table="raw.btc_balances"),
    _suite("raw.evm_balances",
           ("asset", "free", "used", "total", "observed_at", "chain", "token_contract", "block_number"),
           (not_null("asset"), not_null("total"), non_negative("total"), non_negative("free"),
            non_negative("used"), not_null("observed_at"), plausible_time("observed_at"), not_null("chain"),
            non_negative("block_number"))),
    _suite("raw.evm_transfers",
           ("chain", "txid", "log_index", "kind", "occurred_at", "block_number", "direction", "asset",
            "token_contract", "token_name", "amount", "from_address", "to_address", "method"),
           (not_null("chain"), not_null("txid"), matches("txid", r"^0x[0-9a-fA-F]{64}$"), not_null("kind"),
            in_set("kind", ["native", "gas", "token"]), not_null("occurred_at"), plausible_time("occurred_at"),
            not_null("direction"), in_set("direction", ["in", "out", "self"]), not_null("asset"),
            not_null("amount"), non_negative("amount"), not_null("block_number"), non_negative("block_number"))),
    _suite("raw.defi_positions",
           ("protocol", "position_type", "asset", "quantity", "health_factor", "pool", "chain", "block_number",
            "observed_at"),
           (not_null("protocol"), in_set("position_type", ["supplied", "borrowed", "liquidity", "staked"]),
            not_null("asset"), matches("asset", ASSET_CODE), not_null("quantity"), non_negative("health_factor"),
            not_null("observed_at"), plausible_time("observed_at"), not_null("chain"),
            non_negative("block_number"))),
    _suite("raw.file_records",
           ("record_type", "occurred_at", "base_asset", "quote_asset", "side", "quantity", "price", "cost", "asset",
            "amount", "fee_amount", "fee_asset", "venue_record_id", "txid", "income_kind", "file_name",
            "file_sha256", "line_numbers"),
           (not_null("record_type"), in_set("record_type", ["trade", "deposit", "withdrawal", "income", "fee"]),
            not_null("occurred_at"), plausible_time("occurred_at"), matches("base_asset", ASSET_CODE),
            matches("quote_asset", ASSET_CODE), in_set("side", ["buy", "sell"]), positive("quantity"),
            positive("price"), positive("cost"), matches("asset", ASSET_CODE), positive("amount"),
            non_negative("fee_amount"), matches("fee_asset", ASSET_CODE))),
)
SUITES.update({suite.raw_table: suite for suite in CHAIN_SUITES})

# Price ticks (V012): public market data, no account; identity (source, tick id, time). The loader
# (sources/prices/ticks.py) applies the same row rules before a tick lands (a bad one goes to the quarantine), so
# this suite is the after-the-fact check that nothing else wrote the table.
TICK_COLUMNS = ("tenant_id", "source", "source_record_id", "symbol", "base_asset", "quote_asset", "observed_at",
                "price", "size", "payload", "record_hash", "run_id", "ingested_at")
SUITES["raw.price_ticks"] = Suite(
    "raw.price_ticks", TICK_COLUMNS,
    (not_null("symbol"), matches("symbol", TICK_SYMBOL), matches("base_asset", ASSET_CODE),
     matches("quote_asset", ASSET_CODE), not_null("observed_at"), plausible_time("observed_at"),
     not_null("price"), positive("price"), non_negative("size")),
    (Rule("expect_table_columns_to_match_set", {"column_set": list(TICK_COLUMNS), "exact_match": True},
          "the table's columns differ from the suite's (migration and suite out of step)"),
     Rule("expect_compound_columns_to_be_unique", {"column_list": ["source", "source_record_id", "observed_at"]},
          "duplicate tick"),
     Rule("expect_column_values_to_match_regex", {"column": "record_hash", "regex": r"^[0-9a-f]{64}$",
                                                  "mostly": 1.0}, "record_hash is not a sha256 hex digest"),
     Rule("expect_column_values_to_not_be_null", {"column": "payload"}, "raw payload missing")),
)


def suite_for(raw_table: str) -> Suite:
    """The suite of a raw table; a venue added by configuration (COINBOOK_VENUES) gets the common one."""
    if raw_table in SUITES:
        return SUITES[raw_table]
    found = re.fullmatch(r"raw\.([a-z][a-z0-9]{1,30})_(balances|trades|transfers|tickers|ohlcv)", raw_table)
    if found is None:
        raise KeyError(f"no expectation suite for {raw_table}; known: {', '.join(sorted(SUITES))}")
    template = SUITES[f"raw.binance_{found.group(2)}"]
    return replace(template, raw_table=raw_table)
