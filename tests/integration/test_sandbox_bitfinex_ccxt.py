"""ccxt's own `bitfinex` class, unchanged, against the sandbox's Bitfinex v2 dialect over HTTP.

The client signs with bfx-signature (HMAC-SHA384 over '/api/' + path + nonce + JSON body) and parses Bitfinex's
positional arrays; the test drives the venue's own pagination (trades/hist by [start, end] with `limit` ≤ 2,500
and `sort`; movements/hist newest first by `end`, `limit` ≤ 1,000; candles by `start`, `limit` ≤ 10,000) and
checks everything against the world's truth. No connector code is involved: this is the dialect on its own.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

import ccxt
import pytest

from pipelines.services.clients import sandbox_api_base
from pipelines.sources.exchanges.client import rewrite_api_urls
from sandbox import bitfinex
from sandbox.server import SandboxServer
from sandbox.world import END_MS, START_MS

pytestmark = pytest.mark.integration
ACCOUNT = "bluefin-bitfinex"
DAY_MS, HOUR_MS = 86_400_000, 3_600_000
STATUS = {"ok": "ok", "pending": "pending", "failed": "failed", "canceled": "canceled"}  # ccxt's own mapping


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:  # well-formed records; malformed ones are switched on per test
        yield server


def _client(sandbox: SandboxServer, *, key: str | None = None, secret: str | None = None,
            currencies: bool = True) -> ccxt.bitfinex:
    creds = sandbox.world.credentials[ACCOUNT]
    exchange = ccxt.bitfinex({"apiKey": key or creds.api_key, "secret": secret or creds.secret,
                              "enableRateLimit": False, "timeout": 10_000})
    exchange.number = str  # exact strings → Decimal
    if not currencies:  # markets alone carry the ids we need (UST → USDT via commonCurrencies)
        exchange.has["fetchCurrencies"] = False
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], sandbox_api_base(sandbox.url, "bitfinex"))
    return exchange


def _stats(sandbox: SandboxServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{sandbox.url}/__sandbox/stats", timeout=5) as response:
        return json.loads(response.read())["requests"]


def _calls(sandbox: SandboxServer, before: dict[str, int]) -> dict[str, int]:
    return {p: n - before.get(p, 0) for p, n in _stats(sandbox).items() if n != before.get(p, 0)}


def _all_trades(exchange: ccxt.bitfinex, since: int, until: int, page: int,
                symbol: str | None = None) -> list[dict[str, Any]]:
    """Bitfinex's paging: oldest first (sort=1) in [start, end], `limit` rows; the next page starts at the last
    row's time (inclusive, so fills sharing a millisecond are not lost) and repeats are dropped by id."""
    rows: dict[str, dict[str, Any]] = {}
    start = since
    while True:
        batch = exchange.fetch_my_trades(symbol, start, page, {"end": until, "sort": 1})
        assert len(batch) <= page
        fresh = [t for t in batch if t["id"] not in rows]
        rows.update((t["id"], t) for t in batch)
        if len(batch) < page or not fresh:
            return list(rows.values())
        start = batch[-1]["timestamp"]


def _all_movements(exchange: ccxt.bitfinex, page: int, code: str | None = None) -> list[dict[str, Any]]:
    """movements/hist has no sort: newest first, so the next page ends at the oldest row seen (inclusive)."""
    rows: dict[str, dict[str, Any]] = {}
    end = END_MS
    while True:
        batch = exchange.fetch_deposits_withdrawals(code, START_MS, page, {"end": end})
        assert len(batch) <= page
        fresh = [t for t in batch if t["id"] not in rows]
        rows.update((t["id"], t) for t in batch)
        if len(batch) < page or not fresh:
            return list(rows.values())
        end = min(t["timestamp"] for t in batch)


def test_markets_currencies_and_balance(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    before = _stats(sandbox)
    markets = exchange.load_markets()
    calls = _calls(sandbox, before)
    assert len(calls) == 2 and all(p.startswith("/bitfinex/v2/conf/") for p in calls)  # pairs + currencies
    world_markets = sandbox.world.markets("bitfinex")
    assert {m.unified for m in world_markets} == set(markets)
    for m in world_markets:
        assert markets[m.unified]["id"] == m.symbol  # tBTCUSD, tBTCUST (Bitfinex's UST is ccxt's USDT)
    assert exchange.currencies["USDT"]["id"] == "UST"

    lean = _client(sandbox, currencies=False)  # what the connector should do: one conf call, same markets
    before = _stats(sandbox)
    assert set(lean.load_markets()) == set(markets)
    assert list(_calls(sandbox, before)) == [
        "/bitfinex/v2/conf/pub:info:pair,pub:info:pair:futures,pub:list:pair:securities,pub:list:pair:margin"]
    assert lean.currency("USDT")["id"] == "UST"

    balance = lean.fetch_balance()
    assert {k: Decimal(v) for k, v in balance["total"].items()} == sandbox.world.reported_balances(ACCOUNT)
    assert _stats(sandbox).get("/bitfinex/v2/auth/r/wallets") == 1


def test_every_trade_once_through_pages(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox, currencies=False)
    truth = sandbox.world.trades[ACCOUNT]
    newest = exchange.fetch_my_trades()  # Bitfinex's default: the 25 newest
    assert len(newest) == 25 and {t["id"] for t in newest} == {str(t.id) for t in truth[-25:]}

    assert len(truth) > 3 * 80  # several pages: paging is exercised
    trades = _all_trades(exchange, START_MS, END_MS, 80)
    assert len(trades) == len(truth)
    markets = {m.symbol: m for m in sandbox.world.markets("bitfinex")}
    by_id = {t["id"]: t for t in trades}
    for want in truth:
        got = by_id[str(want.id)]
        assert got["symbol"] == markets[want.symbol].unified and got["order"] == str(want.order_id)
        assert got["side"] == ("buy" if want.is_buyer else "sell")
        assert (Decimal(got["amount"]), Decimal(got["price"])) == (want.qty, want.price)
        assert Decimal(got["cost"]) == want.quote_qty
        assert got["fee"]["currency"] == want.commission_asset and Decimal(got["fee"]["cost"]) == want.commission
        assert got["takerOrMaker"] == ("maker" if want.is_maker else "taker")
        assert got["timestamp"] == want.time_ms

    # One call takes at most 2,500 rows, whatever is asked (the whole history here fits one).
    assert len(exchange.fetch_my_trades(None, START_MS, 10_000, {"end": END_MS})) == min(len(truth), 2500)
    # Windows are inclusive at both ends: split at a trade's time, the halves overlap only at that millisecond.
    middle = truth[len(truth) // 2].time_ms
    left = _all_trades(exchange, START_MS, middle, 2500)
    right = _all_trades(exchange, middle + 1, END_MS, 2500)
    assert {t["id"] for t in left} | {t["id"] for t in right} == set(by_id)
    assert len(left) + len(right) == len(truth)
    # Per pair: /auth/r/trades/{symbol}/hist
    usdt = _all_trades(exchange, START_MS, END_MS, 2500, "BTC/USDT")
    assert {t["id"] for t in usdt} == {str(t.id) for t in truth if t.symbol == "tBTCUST"} and usdt


def test_deposits_and_withdrawals_complete(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox, currencies=False)
    truth = sandbox.world.transfers[ACCOUNT]
    assert {t.kind for t in truth} == {"deposit", "withdrawal"} and len(truth) > 2 * 5
    got = _all_movements(exchange, 5)  # one movements/hist call serves both kinds
    assert len(got) == len(truth)
    by_tx = {t["txid"]: t for t in got}
    for want in truth:
        g = by_tx[want.tx_id]
        assert (g["type"], g["currency"], g["address"], g["timestamp"]) == (want.kind, want.coin, want.address,
                                                                            want.time_ms)
        assert (Decimal(g["amount"]), Decimal(g["fee"]["cost"])) == (want.amount, want.fee)
        assert g["status"] == STATUS[want.status]
    usdt = _all_movements(exchange, 1000, "USDT")  # /auth/r/movements/UST/hist
    assert usdt and {t["txid"] for t in usdt} == {t.tx_id for t in truth if t.coin == "USDT"}
    # ccxt's fetch_deposits / fetch_withdrawals are not implemented for Bitfinex: the combined call is the way.
    assert not exchange.has.get("fetchDeposits") and not exchange.has.get("fetchWithdrawals")


def test_candles_closed_contiguous_and_paged(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox, currencies=False)
    daily = exchange.fetch_ohlcv("BTC/USD", "1d", since=START_MS, limit=1000)
    assert len(daily) > 400 and daily[0][0] == START_MS
    assert all(b[0] - a[0] == DAY_MS for a, b in pairwise(daily))
    assert daily[-1][0] + DAY_MS <= END_MS + 1  # only closed candles
    for _, o, h, low, c, v in daily:
        assert Decimal(low) <= min(Decimal(o), Decimal(c)) <= max(Decimal(o), Decimal(c)) <= Decimal(h)
        assert Decimal(v) >= 0
    latest = exchange.fetch_ohlcv("BTC/USD", "1d", limit=5)  # no start: the newest, ccxt puts them in order
    assert latest == daily[-5:]

    hourly, since = [], START_MS
    while len(hourly) < 2500:  # the connector pages by `since` (start); 1,000 a call here
        page = exchange.fetch_ohlcv("ETH/USD", "1h", since=since, limit=1000)
        assert 0 < len(page) <= 1000
        hourly += page
        since = page[-1][0] + HOUR_MS
    assert all(b[0] - a[0] == HOUR_MS for a, b in pairwise(hourly))


def test_tickers_one_call_and_stable(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox, currencies=False)
    exchange.load_markets()
    symbols = sorted(exchange.markets)
    before = _stats(sandbox)
    first = exchange.fetch_tickers(symbols)
    assert _calls(sandbox, before) == {"/bitfinex/v2/tickers": 1}  # symbols=tBTCUSD,tETHUSD,... in one request
    again = exchange.fetch_tickers(symbols)
    assert set(first) == set(symbols)
    for symbol in symbols:
        t, u = first[symbol], again[symbol]
        assert (t["last"], t["bid"], t["ask"], t["high"], t["low"]) == (u["last"], u["bid"], u["ask"], u["high"],
                                                                         u["low"])
        assert Decimal(t["bid"]) < Decimal(t["last"]) < Decimal(t["ask"])
        assert Decimal(t["low"]) <= Decimal(t["last"]) <= Decimal(t["high"])
    single = exchange.fetch_ticker("ETH/USD")  # /v2/ticker/tETHUSD: the same figures
    assert (single["last"], single["bid"], single["ask"]) == (first["ETH/USD"]["last"], first["ETH/USD"]["bid"],
                                                              first["ETH/USD"]["ask"])


def test_order_book_sane(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox, currencies=False)
    for params in ({}, {"precision": "P0"}):  # R0 (raw orders, ccxt's default) and aggregated P0
        book = exchange.fetch_order_book("BTC/USD", 25, params)
        bids, asks = [Decimal(r[0]) for r in book["bids"]], [Decimal(r[0]) for r in book["asks"]]
        assert len(bids) == len(asks) == 25
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        assert all(Decimal(r[1]) > 0 for r in book["bids"] + book["asks"])


def test_authentication_as_bitfinex_does_it(sandbox: SandboxServer) -> None:
    wrong_secret = _client(sandbox, secret="0" * 64, currencies=False)
    with pytest.raises(ccxt.AuthenticationError, match="digest invalid"):
        wrong_secret.fetch_balance()
    unknown_key = _client(sandbox, key="not-a-bitfinex-key", currencies=False)
    with pytest.raises(ccxt.AuthenticationError, match="apikey: invalid"):
        unknown_key.fetch_my_trades()
    stale = _client(sandbox, currencies=False)
    stale.fetch_balance()
    stale.incrementing_nonce = lambda: 1  # far behind the key's last nonce: Bitfinex refuses it (10114)
    with pytest.raises(ccxt.InvalidNonce):
        stale.fetch_balance()


def test_malformed_records_fresh_and_still_parse(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox, currencies=False)
    truth = bitfinex.malformed_truth(sandbox.world)
    assert len(truth["trades"]) == len(truth["deposits"]) == 1
    sandbox.set_faults(malformed=True)
    try:
        trades = _all_trades(exchange, START_MS, END_MS, 2500)
        movements = _all_movements(exchange, 1000)
    finally:
        sandbox.set_faults(malformed=False)
    real_ids = {str(t.id) for t in sandbox.world.trades[ACCOUNT]}
    bogus = [t for t in trades if t["id"] not in real_ids]
    assert len(trades) == len(real_ids) + 1
    # ccxt takes abs() of Bitfinex's signed amounts, so a negative one cannot reach the connector: the bogus
    # fill is at price zero instead, and the bogus deposit is in a status the venue never documented.
    assert [t["id"] for t in bogus] == [truth["trades"][0]["id"]] and Decimal(bogus[0]["price"]) == 0
    assert bogus[0]["symbol"] == truth["trades"][0]["symbol"]
    odd = [t for t in movements if t["status"] not in STATUS.values()]
    assert [t["id"] for t in odd] == [truth["deposits"][0]["id"]] and odd[0]["type"] == "deposit"
    assert len(movements) == len(sandbox.world.transfers[ACCOUNT]) + 1
