"""Normalisers: ccxt unified structures (as ccxt returns them with exchange.number = str) → raw rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.sources.exchanges.canonical import clean_json, ms_to_datetime, record_hash, to_decimal
from pipelines.sources.exchanges.normalise import (
    RAW_COLUMNS,
    as_tuples,
    normalise_balances,
    normalise_candle,
    normalise_ticker,
    normalise_trade,
    normalise_transfer,
    split_symbol,
)

CTX = {"tenant_id": "acme", "account_id": "acme-binance-main", "source": "binance", "run_id": "r1"}

TRADE = {
    "id": "28457", "order": "100234", "timestamp": 1750000000123, "symbol": "BTC/USDT", "side": "buy",
    "takerOrMaker": "taker", "price": "64250.10", "amount": "0.01234", "cost": "792.846234",
    "fee": {"cost": "0.00001234", "currency": "BTC"},
    "info": {"symbol": "BTCUSDT", "id": 28457, "orderId": 100234, "price": "64250.10000000", "qty": "0.01234000",
             "quoteQty": "792.84623400", "commission": "0.00001234", "commissionAsset": "BTC",
             "time": 1750000000123, "isBuyer": True, "isMaker": False},
}


def test_trade_is_exact_and_keeps_native_payload() -> None:
    row = normalise_trade(TRADE, **CTX)
    assert row["source_record_id"] == "BTC/USDT:28457"
    assert row["price"] == Decimal("64250.10") and isinstance(row["quantity"], Decimal)
    assert row["quantity"] == Decimal("0.01234") and row["cost"] == Decimal("792.846234")
    assert row["fee_amount"] == Decimal("0.00001234") and row["fee_asset"] == "BTC"
    assert (row["base_asset"], row["quote_asset"], row["side"], row["is_maker"]) == ("BTC", "USDT", "buy", False)
    assert row["occurred_at"] == datetime(2025, 6, 15, 15, 6, 40, 123000, tzinfo=UTC)
    assert row["payload"] == TRADE["info"]  # the venue's own record, untouched
    assert row["record_hash"] == record_hash(TRADE["info"]) and len(row["record_hash"]) == 64
    assert set(row) == set(RAW_COLUMNS["trades"])


def test_unparseable_values_land_as_null_not_as_an_exception() -> None:
    bad = {**TRADE, "price": "abc", "amount": "NaN", "timestamp": None, "side": None, "id": None}
    row = normalise_trade(bad, **CTX)
    assert row["price"] is None and row["quantity"] is None and row["occurred_at"] is None and row["side"] is None
    # no venue id: the row is still kept, identified by its content
    assert row["source_record_id"] == f"sha256:{row['record_hash']}"


def test_record_hash_ignores_key_order_and_nul_bytes_are_removed() -> None:
    assert record_hash({"a": 1, "b": "x"}) == record_hash({"b": "x", "a": 1})
    assert clean_json({"memo": "a\x00b"}) == {"memo": "ab"}


def test_balances_one_row_per_asset_with_snapshot_identity() -> None:
    balance = {
        "info": {"updateTime": 1759276799000, "balances": [
            {"asset": "BTC", "free": "1.50000000", "locked": "0.25000000"},
            {"asset": "SOL", "free": "0.00000000", "locked": "0.00000000"},
        ]},
        "timestamp": 1759276799000, "datetime": "2025-09-30T23:59:59.000Z",
        "BTC": {"free": "1.5", "used": "0.25", "total": "1.75"},
        "SOL": {"free": "0", "used": "0", "total": "0"},
        "free": {"BTC": "1.5", "SOL": "0"}, "used": {}, "total": {},
    }
    rows = normalise_balances(balance, **CTX)
    by_asset = {r["asset"]: r for r in rows}
    assert set(by_asset) == {"BTC", "SOL"}  # a zero balance is a fact too
    assert by_asset["BTC"]["total"] == Decimal("1.75") and by_asset["BTC"]["used"] == Decimal("0.25")
    assert by_asset["BTC"]["source_record_id"] == "BTC@1759276799000"
    assert by_asset["BTC"]["payload"]["balance"] == {"asset": "BTC", "free": "1.50000000", "locked": "0.25000000"}
    # same snapshot again → same ids and hashes (so a re-run inserts nothing)
    assert [r["record_hash"] for r in normalise_balances(balance, **CTX)] == [r["record_hash"] for r in rows]


def test_a_zero_venue_time_falls_back_to_the_fetch_time() -> None:
    """Binance answers `updateTime: 0` for some account types; ccxt then gives timestamp 0 and keeps "0"."""
    zero = {"info": {"updateTime": 0, "accountType": "SPOT", "balances": [
                {"asset": "USDT", "free": "100.00000000", "locked": "0.00000000"}]},
            "timestamp": 0, "USDT": {"free": "100", "used": "0", "total": "100"}}
    fetched = 1_759_300_000_000
    first = normalise_balances(zero, **CTX, fetched_ms=fetched)[0]
    assert first["source_record_id"] == f"USDT@{fetched}"  # not 'USDT@0', which would never change again
    assert first["observed_at"] == datetime(2025, 10, 1, 6, 26, 40, tzinfo=UTC)
    assert first["payload"]["snapshot"] and first["payload"]["venueUpdateTime"] == 0
    later = normalise_balances({**zero, "USDT": {"free": "60", "used": "0", "total": "60"}}, **CTX,
                               fetched_ms=fetched + 60_000)[0]
    assert later["source_record_id"] != first["source_record_id"] and later["total"] == Decimal("60")
    assert later["payload"]["snapshot"] != first["payload"]["snapshot"]
    # the same as a string, absent, or absurd (before genesis): no venue time either
    for info_time, ts in (("0", None), (None, None), (-5, 12)):
        info = {**zero["info"], "updateTime": info_time}
        row = normalise_balances({**zero, "info": info, "timestamp": ts}, **CTX, fetched_ms=fetched)[0]
        assert row["source_record_id"] == f"USDT@{fetched}"
    # a real venue time still wins over the fetch time
    timed = normalise_balances({**zero, "info": {**zero["info"], "updateTime": "1759276799000"}}, **CTX,
                               fetched_ms=fetched)[0]
    assert timed["source_record_id"] == "USDT@1759276799000" and "snapshot" not in timed["payload"]


def test_transfer_status_is_part_of_identity() -> None:
    deposit = {"id": "d-1", "type": "deposit", "currency": "USDT", "amount": "1000", "status": "pending",
               "timestamp": 1750000000000, "txid": "0xabc", "network": "ETH", "address": "0xdef",
               "fee": None, "info": {"id": "d-1", "status": 0}}
    pending = normalise_transfer(deposit, **CTX)
    done = normalise_transfer({**deposit, "status": "ok", "info": {"id": "d-1", "status": 1}}, **CTX)
    assert pending["transfer_id"] == done["transfer_id"] == "d-1"
    assert pending["source_record_id"] != done["source_record_id"]  # the completion is a new (correcting) row
    assert done["amount"] == Decimal("1000") and done["fee_amount"] is None


def test_withdrawal_fee() -> None:
    w = {"id": "w-9", "type": "withdrawal", "currency": "BTC", "amount": "0.5", "status": "ok",
         "timestamp": 1750000000000, "fee": {"cost": "0.0002", "currency": "BTC"}, "info": {"id": "w-9"}}
    row = normalise_transfer(w, **CTX)
    assert (row["transfer_type"], row["amount"], row["fee_amount"], row["fee_asset"]) == (
        "withdrawal", Decimal("0.5"), Decimal("0.0002"), "BTC")


def test_ticker_and_candle_are_public_market_data() -> None:
    ticker = normalise_ticker({"symbol": "ETH/USDT", "timestamp": 1759276799000, "last": "2500.5", "bid": "2500.4",
                               "ask": "2500.6", "quoteVolume": "123456.7", "info": {"symbol": "ETHUSDT"}},
                              source="binance", run_id="r1")
    assert ticker["tenant_id"] == ticker["account_id"] == "public"
    assert ticker["last_price"] == Decimal("2500.5") and ticker["source_record_id"] == "ETH/USDT@1759276799000"
    native = [1759190400000, "2480.0", "2510.0", "2470.0", "2500.5", "1000.1", 1759276799999]
    candle = normalise_candle([1759190400000, "2480.0", "2510.0", "2470.0", "2500.5", "1000.1"], native,
                              symbol="ETH/USDT", timeframe="1d", source="binance", run_id="r1")
    assert candle["payload"] == native and candle["close"] == Decimal("2500.5")
    assert candle["source_record_id"] == "ETH/USDT:1d:1759190400000"
    assert len(as_tuples([candle], "ohlcv")[0]) == len(RAW_COLUMNS["ohlcv"])


def test_split_symbol() -> None:
    assert split_symbol("BTC/USDT") == ("BTC", "USDT")
    assert split_symbol("BTC/USDT:USDT") == ("BTC", "USDT")
    assert split_symbol("garbage") == (None, None) and split_symbol(None) == (None, None)


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e19"), max_value=Decimal("1e19"),
                   places=18))
def test_to_decimal_round_trips_any_representable_amount(value: Decimal) -> None:
    assert to_decimal(str(value)) == value


def test_to_decimal_rejects_what_numeric_38_18_cannot_hold() -> None:
    assert to_decimal("1e25") is None and to_decimal("inf") is None and to_decimal("") is None
    assert to_decimal(True) is None and to_decimal(0.1) == Decimal("0.1")


def test_ms_to_datetime_bounds() -> None:
    assert ms_to_datetime(None) is None and ms_to_datetime("x") is None
    assert ms_to_datetime(0) is None  # before bitcoin: certainly wrong
    assert ms_to_datetime(1759276799000) == datetime(2025, 9, 30, 23, 59, 59, tzinfo=UTC)


def test_venue_status_codes_ccxt_leaves_unmapped_are_unified() -> None:
    wrong = {"id": "d-7", "type": "deposit", "currency": "USDT", "amount": "9000", "status": "7",
             "timestamp": 1750000000000, "fee": None, "info": {"id": "d-7", "status": 7}}
    row = normalise_transfer(wrong, **CTX)
    assert row["status"] == "failed" and row["source_record_id"] == "deposit:d-7:failed"
    assert row["payload"]["status"] == 7  # the venue's own code stays in the payload
    odd = normalise_transfer({**wrong, "status": "42"}, **CTX)
    assert odd["status"] == "42"  # unknown: kept as given, for the gate to quarantine with the reason


# Coinbase v2 transaction resources, read by ccxt's own coinbase.parse_transaction (no network), then normalised.
# The send is the transaction documentation's example (docs.cdp.coinbase.com/coinbase-app/track-apis/transactions,
# the currency of transaction_amount repaired: the example prints ETH beside BTC amounts): the account was debited
# 0.00133, of which 0.001 reached the recipient and 0.00033 paid the network.
CB_SEND_DOCS = {
    "id": "57ffb4ae-0c59-5430-bcd3-3f98f797a66c", "type": "send", "status": "completed",
    "amount": {"amount": "-0.00133", "currency": "BTC"}, "native_amount": {"amount": "-0.01", "currency": "USD"},
    "description": None, "created_at": "2015-03-11T13:13:35-07:00", "updated_at": "2015-03-26T15:55:43-07:00",
    "resource": "transaction",
    "resource_path": ("/v2/accounts/2bbf394c-193b-5b2a-9155-3b4732659ede"
                      "/transactions/57ffb4ae-0c59-5430-bcd3-3f98f797a66c"),
    "network": {"status": "confirmed", "hash": "463397c87beddd9a61ade61359a13adc9efea26062191fe07147037bce7f33ed",
                "transaction_fee": {"amount": "0.00033", "currency": "BTC"},
                "transaction_amount": {"amount": "0.001", "currency": "BTC"}},
    "to": {"resource": "bitcoin_address", "address": "1AUJ8z5RuHRTqD1eikyfUUetzGmdWLGkpT"},
}
# As the /transactions endpoint answers it in practice (ccxt/coinbase.py parse_transaction's recorded "crypto
# deposit & withdrawal" example): no transaction_amount, so ccxt reads the gross debit as the amount. The
# issue's real case: a wallet that received 2.01 USDT sends -2.01 with a 1.53 fee.
CB_SEND_NO_NET = {
    "id": "0031a605-241d-514d-a97b-d4b99f3225d3", "type": "send", "status": "completed",
    "amount": {"amount": "-2.01", "currency": "USDT"}, "native_amount": {"amount": "-2.01", "currency": "USD"},
    "created_at": "2024-03-29T15:48:30Z", "resource": "transaction",
    "resource_path": ("/v2/accounts/dc504b1c-248e-5b68-a3b0-b991f7fa84e6"
                      "/transactions/0031a605-241d-514d-a97b-d4b99f3225d3"),
    "network": {"status": "confirmed", "hash": "0x5jYuvrNsvX2DZoMnzGYzVpYxJ", "network_name": "ethereum",
                "transaction_fee": {"amount": "1.53", "currency": "USDT"}},
    "to": {"address": "0x9a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "resource": "address"},
}


def _coinbase(record: dict[str, Any]) -> dict[str, Any]:
    import ccxt

    return normalise_transfer(ccxt.coinbase().parse_transaction(record), **{**CTX, "source": "coinbase"})


def test_coinbase_send_amount_includes_its_network_fee() -> None:
    import ccxt

    docs = _coinbase(CB_SEND_DOCS)
    assert (docs["transfer_type"], docs["amount"], docs["fee_amount"], docs["fee_asset"]) == (
        "withdrawal", Decimal("0.001"), Decimal("0.00033"), "BTC")
    assert docs["amount"] + docs["fee_amount"] == Decimal("0.00133")  # the whole debit, once
    raw = ccxt.coinbase().parse_transaction(CB_SEND_NO_NET)
    assert (str(raw["amount"]), str(raw["fee"]["cost"])) == ("2.01", "1.53")  # ccxt alone: 3.54 out of 2.01
    row = _coinbase(CB_SEND_NO_NET)
    assert (row["amount"], row["fee_amount"], row["fee_asset"]) == (Decimal("0.48"), Decimal("1.53"), "USDT")
    assert row["amount"] + row["fee_amount"] == Decimal("2.01")


def test_coinbase_fee_in_another_currency_and_fiat_withdrawal() -> None:
    other = {**CB_SEND_NO_NET, "network": {**CB_SEND_NO_NET["network"],
                                            "transaction_fee": {"amount": "0.0004", "currency": "ETH"}}}
    row = _coinbase(other)  # not part of this wallet's debit: the whole debit is the amount, the fee stays in payload
    assert (row["amount"], row["fee_amount"]) == (Decimal("2.01"), None)
    assert row["payload"]["network"]["transaction_fee"]["currency"] == "ETH"
    fiat = {"id": "6a5b4c3d-2e1f-5a0b-9c8d-7e6f5a4b3c2d", "type": "fiat_withdrawal", "status": "completed",
            "amount": {"amount": "-100.00", "currency": "USD"},
            "native_amount": {"amount": "-100.00", "currency": "USD"},
            "created_at": "2024-02-05T16:30:00Z", "resource": "transaction",
            "resource_path": "/v2/accounts/58542935/transactions/6a5b4c3d-2e1f-5a0b-9c8d-7e6f5a4b3c2d"}
    row = _coinbase(fiat)
    assert (row["transfer_type"], row["amount"], row["fee_amount"]) == ("withdrawal", Decimal("100.00"), None)
    deposit = _coinbase({**fiat, "type": "fiat_deposit", "amount": {"amount": "250.00", "currency": "USD"}})
    assert (deposit["transfer_type"], deposit["amount"]) == ("deposit", Decimal("250.00"))
    expired = _coinbase({**CB_SEND_DOCS, "status": "expired"})
    assert expired["status"] == "failed"  # moved nothing


# Coinbase's v2 list holds every movement of a wallet, not only transfers (docs.cdp.coinbase.com/coinbase-app/
# track-apis/transactions, "Transaction Types"). An Advanced Trade fill leaves one record in each wallet it moves
# (base: its size with the commission under advanced_trade_fill; quote: its notional, no commission).
CB_FILL_BASE = {
    "id": "3e1f9a7c-5b2d-5c4e-8f60-1a2b3c4d5e6f", "type": "advanced_trade_fill", "status": "completed",
    "amount": {"amount": "0.01500000", "currency": "BTC"}, "native_amount": {"amount": "975.00", "currency": "USD"},
    "created_at": "2024-05-02T09:14:03Z", "updated_at": "2024-05-02T09:14:03Z", "resource": "transaction",
    "resource_path": "/v2/accounts/9d1e/transactions/3e1f9a7c-5b2d-5c4e-8f60-1a2b3c4d5e6f",
    "advanced_trade_fill": {"fill_price": "65000.00", "product_id": "BTC-USD", "order_id": "b7c1",
                            "commission": "3.9", "order_side": "buy"},
}
CB_FILL_QUOTE = {**CB_FILL_BASE, "id": "8a2b7c6d-1e0f-5a9b-8c7d-6e5f4a3b2c1d",
                 "amount": {"amount": "-975.00", "currency": "USD"},
                 "native_amount": {"amount": "-975.00", "currency": "USD"},
                 "advanced_trade_fill": {k: v for k, v in CB_FILL_BASE["advanced_trade_fill"].items()
                                         if k != "commission"}}


def _cb_typed(native_type: str, amount: str, currency: str = "ETH") -> dict[str, Any]:
    record = {**CB_FILL_BASE, "type": native_type, "amount": {"amount": amount, "currency": currency}}
    del record["advanced_trade_fill"]
    return _coinbase(record)


@pytest.mark.parametrize("record", [CB_FILL_BASE, CB_FILL_QUOTE], ids=["base-wallet", "quote-wallet"])
def test_coinbase_fill_in_the_transaction_list_is_not_a_transfer(record: dict[str, Any]) -> None:
    import ccxt

    assert ccxt.coinbase().parse_transaction(record)["type"] in ("deposit", "withdrawal")  # ccxt alone
    row = _coinbase(record)
    assert row["transfer_type"] == "fill"  # kept in raw, booked once, from the trades path
    assert row["amount"] == abs(Decimal(record["amount"]["amount"])) and row["fee_amount"] is None
    assert row["payload"]["amount"] == record["amount"]  # the direction stays in the payload


@pytest.mark.parametrize("native_type", ["buy", "sell", "trade", "advanced_trade_fill"])
def test_coinbase_every_fill_type_is_a_fill(native_type: str) -> None:
    assert _cb_typed(native_type, "-0.25")["transfer_type"] == "fill"
    assert _cb_typed(native_type, "0.25")["transfer_type"] == "fill"


@pytest.mark.parametrize("native_type", ["staking_reward", "inflation_reward", "interest", "earn_payout"])
def test_coinbase_rewards_are_income(native_type: str) -> None:
    row = _cb_typed(native_type, "0.00041277")
    assert (row["transfer_type"], row["amount"], row["status"]) == ("income", Decimal("0.00041277"), "ok")
    taken_back = _cb_typed(native_type, "-0.00041277")  # a clawback is no income: quarantined, with its type
    assert taken_back["transfer_type"] == f"coinbase:{native_type}"


@pytest.mark.parametrize(("native_type", "amount", "kind"), [
    ("send", "0.5", "deposit"), ("send", "-0.5", "withdrawal"), ("fiat_deposit", "100", "deposit"),
    ("fiat_withdrawal", "-100", "withdrawal"),
    # moves between the owner's own Coinbase accounts: wallet moves, still by the sign of the wallet's amount
    ("transfer", "-0.5", "wallet_out"), ("pro_deposit", "1", "wallet_in"), ("exchange_withdrawal", "-1", "wallet_out")])
def test_coinbase_transfer_types_keep_the_sign_of_the_wallet(native_type: str, amount: str, kind: str) -> None:
    assert _cb_typed(native_type, amount)["transfer_type"] == kind


@pytest.mark.parametrize("native_type", ["wrap_asset", "something_new"])
def test_coinbase_unknown_types_are_never_silently_a_deposit(native_type: str) -> None:
    from expectations.suites import TRANSFER_TYPES

    row = _cb_typed(native_type, "2")
    assert row["transfer_type"] == f"coinbase:{native_type}" and row["transfer_type"] not in TRANSFER_TYPES
