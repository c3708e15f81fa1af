"""Derivatives told apart from spot before anything is stored (pipelines/sources/exchanges/derivatives.py).

Symbols follow ccxt's contract naming (docs.ccxt.com Manual, "Contract naming conventions"; the same table is in
ccxt's base exchange docstring): BTC/USDT:USDT a linear perpetual, BTC/USD:BTC an inverse one, BTC/USDT:BTC-211225
a future, BTC/USD:BTC-211225-60000-P an option. Markets as ccxt's own fetch_markets builds them: bitfinex's
'BTCF0:USTF0' (type swap, contract True, contractSize 1, settle USDT), a spot market (type spot)."""

from __future__ import annotations

from decimal import Decimal

from pipelines.sources.exchanges.derivatives import (
    derivative_balance_rows,
    derivative_balance_types,
    derivative_trade_row,
    market_type,
    split_trades,
)

BITFINEX_PERP = {"id": "tBTCF0:USTF0", "symbol": "BTC/USDT:USDT", "type": "swap", "spot": False, "swap": True,
                 "future": False, "option": False, "contract": True, "linear": True, "inverse": False,
                 "contractSize": "1", "settle": "USDT"}
SPOT = {"id": "tBTCUST", "symbol": "BTC/USDT", "type": "spot", "spot": True, "swap": False, "contract": False}
MARKETS = {"BTC/USDT:USDT": BITFINEX_PERP, "BTC/USDT": SPOT}


def test_the_symbol_says_what_kind_of_market_when_no_market_is_loaded() -> None:
    assert market_type("BTC/USDT") is None
    assert market_type("BTC/USDT:USDT") == "swap"
    assert market_type("BTC/USD:BTC") == "swap"  # inverse perpetual
    assert market_type("BTC/USDT:BTC-211225") == "future"
    assert market_type("BTC/USD:BTC-211225-60000-P") == "option"
    assert market_type(None) is None and market_type("garbage") is None


def test_the_market_decides_over_the_symbol() -> None:
    assert market_type("BTC/USDT:USDT", BITFINEX_PERP) == "swap"
    assert market_type("BTC/USDT", SPOT) is None
    assert market_type("X/Y", {"type": "future"}) == "future"
    assert market_type("X/Y", {"contract": True}) == "contract"  # a venue that says only 'contract'
    assert market_type("X/Y", {"type": None, "option": True}) == "option"


def test_perp_fills_are_set_aside_and_spot_fills_go_on() -> None:
    # ccxt's unified trades as bitfinex.parse_trade makes them: the fee sign is the venue's negated (a rebate < 0)
    spot = {"id": "1", "symbol": "BTC/USDT", "amount": "0.1", "price": "60000",
            "fee": {"cost": "12", "currency": "USDT"}}
    perp = {"id": "2", "symbol": "BTC/USDT:USDT", "amount": "1.5", "price": "60000", "timestamp": 1748995237000,
            "takerOrMaker": "maker", "fee": {"cost": "-18", "currency": "USDT"},
            "info": [2, "tBTCF0:USTF0", 1748995237000, 9, "1.5", "60000", "LIMIT", "60000", 1, "18", "USTF0", None]}
    kept, aside = split_trades([spot, perp], MARKETS)
    assert kept == [spot] and aside == [(perp, "swap")]
    row = derivative_trade_row(perp, "swap", BITFINEX_PERP, tenant_id="t", account_id="a", source="bitfinex",
                               run_id=None)
    assert row["source_record_id"] == "BTC/USDT:USDT:2" and row["market_type"] == "swap"
    assert row["payload"] == perp["info"]  # the venue's own record, whole
    assert row["unified"]["contractSize"] == "1" and row["unified"]["amount"] == "1.5"  # contracts × size
    assert Decimal(row["unified"]["fee"]["cost"]) < 0  # the rebate kept as the venue gave it


def test_only_an_account_that_declares_derivatives_reads_its_derivative_wallets() -> None:
    assert derivative_balance_types("bitfinex", {}) == ()
    assert derivative_balance_types("bitfinex", {"derivatives": False}) == ()
    assert derivative_balance_types("bitfinex", {"derivatives": True}) == ("swap",)
    assert derivative_balance_types("kraken", {"derivatives": True}) == ()


def test_a_derivative_wallet_is_kept_per_asset_and_an_unchanged_one_has_the_same_identity() -> None:
    balance = {"info": [["margin", "USTF0", 25000.0, 0, 25000.0, None, None]],
               "USDT": {"free": "25000.0", "used": "0", "total": "25000.0"}, "free": {"USDT": "25000.0"},
               "used": {"USDT": "0"}, "total": {"USDT": "25000.0"}}
    first = derivative_balance_rows(balance, "swap", tenant_id="t", account_id="a", source="bitfinex", run_id=None,
                                    fetched_ms=1_800_000_000_000)
    again = derivative_balance_rows(balance, "swap", tenant_id="t", account_id="a", source="bitfinex", run_id="r2",
                                    fetched_ms=1_800_000_060_000)
    assert [r["asset"] for r in first] == ["USDT"] and first[0]["entity"] == "balances"
    assert first[0]["source_record_id"] == again[0]["source_record_id"]  # nothing new to add
    changed = {**balance, "USDT": {"free": "24000.0", "used": "0", "total": "24000.0"}}
    assert derivative_balance_rows(changed, "swap", tenant_id="t", account_id="a", source="bitfinex", run_id=None,
                                   fetched_ms=1)[0]["source_record_id"] != first[0]["source_record_id"]
