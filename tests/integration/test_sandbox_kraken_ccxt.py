"""ccxt's own `kraken` class, unchanged, against the sandbox's Kraken dialect over HTTP: API-Sign verified,
TradesHistory in 50-row pages (ofs), Deposit/WithdrawStatus, closed candles, stable tickers, a sane book.
Every figure is checked against the world's truth, not against what the dialect happens to return."""

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
from sandbox import kraken
from sandbox.server import SandboxServer
from sandbox.world import END_MS, START_MS

pytestmark = pytest.mark.integration
ACCOUNT = "acme-kraken"
DAY = 86_400_000
STATUS = {"ok": "ok", "pending": "pending", "failed": "failed", "canceled": "failed"}  # Kraken: Failure + prop


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:  # well-formed records only
        yield server


def _client(server: SandboxServer, *, key: str | None = None, secret: str | None = None) -> ccxt.kraken:
    creds = server.world.credentials[ACCOUNT]
    exchange = ccxt.kraken({"apiKey": key or creds.api_key, "secret": secret or creds.secret,
                            "enableRateLimit": False, "timeout": 10_000})
    exchange.number = str  # exact strings → Decimal
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], sandbox_api_base(server.url, "kraken"))
    return exchange


def _stats(server: SandboxServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.url}/__sandbox/stats", timeout=10) as response:
        return json.loads(response.read())["requests"]


def _all_trades(exchange: ccxt.kraken, since: int | None, until: int) -> list[dict[str, Any]]:
    """Kraken's paging: a fixed window (end inclusive), newest first, 50 rows a page, `ofs` to move on."""
    rows: list[dict[str, Any]] = []
    while True:
        page = exchange.fetch_my_trades(since=since, params={"until": until, "ofs": len(rows)})
        assert len(page) <= kraken.PAGE
        rows += page
        if len(page) < kraken.PAGE:
            return rows


def test_markets_currencies_and_balance(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    before = _stats(sandbox)
    markets = exchange.load_markets()
    calls = {p: n - before.get(p, 0) for p, n in _stats(sandbox).items() if n != before.get(p, 0)}
    assert calls == {"/kraken/0/public/Assets": 1, "/kraken/0/public/AssetPairs": 1}  # no needless endpoints
    world_markets = sandbox.world.markets("kraken")
    assert {m.unified for m in world_markets} == set(markets)
    for m in world_markets:
        assert markets[m.unified]["id"] == m.symbol  # native pair ids (XXBTZUSD), mapped to BTC/USD by ccxt
        assert Decimal(str(markets[m.unified]["precision"]["price"])) == m.tick
    assert {"BTC", "ETH", "USD"} <= set(exchange.currencies) and exchange.currencies["BTC"]["id"] == "XXBT"
    balance = exchange.fetch_balance()
    assert {k: Decimal(v) for k, v in balance["total"].items()} == sandbox.world.reported_balances(ACCOUNT)


def test_every_trade_once_through_ofs_pages(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    truth = sandbox.world.trades[ACCOUNT]
    assert len(truth) > 3 * kraken.PAGE  # the history does not fit one page: paging is exercised
    first = exchange.fetch_my_trades()
    assert len(first) == kraken.PAGE  # no limit parameter on Kraken: a page is 50 rows, whatever is asked

    trades = _all_trades(exchange, START_MS - 1, END_MS)
    assert len(trades) == len({t["id"] for t in trades}) == len(truth)
    by_time = sorted(trades, key=lambda t: (t["timestamp"], t["info"]["trade_id"]))
    markets = {m.symbol: m for m in sandbox.world.markets("kraken")}
    for got, want in zip(by_time, sorted(truth, key=lambda t: (t.time_ms, t.id)), strict=True):
        assert got["symbol"] == markets[want.symbol].unified
        assert got["side"] == ("buy" if want.is_buyer else "sell")
        assert (Decimal(got["amount"]), Decimal(got["price"])) == (want.qty, want.price)
        assert Decimal(got["cost"]) == want.quote_qty
        assert got["fee"]["currency"] == want.commission_asset and Decimal(got["fee"]["cost"]) == want.commission
        assert got["takerOrMaker"] == ("maker" if want.is_maker else "taker")
        assert got["timestamp"] == want.time_ms

    # Windows: start exclusive, end inclusive — adjacent windows split at a boundary neither lose nor repeat.
    middle = truth[len(truth) // 2].time_ms
    left = _all_trades(exchange, START_MS - 1, middle)
    right = _all_trades(exchange, middle + 1, END_MS)  # ccxt sends start = floor(since / 1000) s
    assert {t["id"] for t in left} | {t["id"] for t in right} == {t["id"] for t in trades}
    assert len(left) + len(right) >= len(trades)


def test_deposits_and_withdrawals_complete(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    truth = sandbox.world.transfers[ACCOUNT]
    for kind, fetch in (("deposit", exchange.fetch_deposits), ("withdrawal", exchange.fetch_withdrawals)):
        want = sorted((t for t in truth if t.kind == kind), key=lambda t: (t.time_ms // 1000, t.tx_id))
        got = sorted(fetch(), key=lambda t: (t["timestamp"], t["txid"]))
        assert want and len(got) == len({t["id"] for t in got}) == len(want)
        for g, w in zip(got, want, strict=True):
            assert (g["type"], g["currency"], g["txid"], g["address"]) == (kind, w.coin, w.tx_id, w.address)
            assert (Decimal(g["amount"]), Decimal(g["fee"]["cost"])) == (w.amount, w.fee)
            assert g["status"] == STATUS[w.status] and g["timestamp"] == w.time_ms // 1000 * 1000
    btc = exchange.fetch_deposits("BTC")  # per-asset filter as Kraken's `asset`
    assert btc and {t["currency"] for t in btc} == {"BTC"}
    late = exchange.fetch_withdrawals(since=END_MS - 60 * DAY)
    assert all(t["timestamp"] > END_MS - 60 * DAY - 1000 for t in late)


def test_candles_closed_contiguous_and_capped(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    daily = exchange.fetch_ohlcv("BTC/USD", "1d", since=START_MS)
    assert 400 < len(daily) <= 720 and daily[0][0] == START_MS
    assert all(b[0] - a[0] == DAY for a, b in pairwise(daily))
    assert daily[-1][0] + DAY <= END_MS + 1  # only closed candles
    for _, o, h, low, c, v in daily:
        assert Decimal(low) <= min(Decimal(o), Decimal(c)) <= max(Decimal(o), Decimal(c)) <= Decimal(h)
        assert Decimal(v) >= 0
    hourly, since = [], START_MS
    while len(hourly) < 1500:  # 720 points a call at most: the connector pages by `since`
        page = exchange.fetch_ohlcv("ETH/USD", "1h", since=since)
        assert 0 < len(page) <= 720
        hourly += page
        since = page[-1][0] + 3_600_000
    assert all(b[0] - a[0] == 3_600_000 for a, b in pairwise(hourly))


def test_tickers_one_call_and_stable(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    exchange.load_markets()
    symbols = sorted(exchange.markets)
    before = _stats(sandbox).get("/kraken/0/public/Ticker", 0)
    first = exchange.fetch_tickers(symbols)
    assert _stats(sandbox)["/kraken/0/public/Ticker"] == before + 1  # many pairs in one request
    again = exchange.fetch_tickers(symbols)
    assert set(first) == set(symbols)
    for symbol in symbols:
        t, u = first[symbol], again[symbol]
        assert (t["last"], t["bid"], t["ask"], t["high"], t["low"]) == (u["last"], u["bid"], u["ask"], u["high"],
                                                                         u["low"])
        assert Decimal(t["bid"]) < Decimal(t["last"]) < Decimal(t["ask"])


def test_order_book_sane(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    book = exchange.fetch_order_book("BTC/USD", 10)
    bids, asks = [Decimal(r[0]) for r in book["bids"]], [Decimal(r[0]) for r in book["asks"]]
    assert len(bids) == len(asks) == 10
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]


def test_authentication_as_kraken_does_it(sandbox: SandboxServer) -> None:
    wrong_secret = _client(sandbox, secret="d3JvbmctYnV0LWJhc2U2NA==")  # valid base64, wrong key material
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        wrong_secret.fetch_balance()
    unknown_key = _client(sandbox, key="not-a-kraken-key")
    with pytest.raises(ccxt.AuthenticationError):
        unknown_key.fetch_my_trades()
    stale = _client(sandbox)
    stale.fetch_balance()
    stale.incrementing_nonce = lambda: 1  # a nonce far behind the key's last one: Kraken refuses it
    with pytest.raises(ccxt.InvalidNonce):
        stale.fetch_balance()


def test_malformed_records_still_parse() -> None:
    with SandboxServer(port=0, malformed=True) as server:
        exchange = _client(server)
        trades = _all_trades(exchange, START_MS - 1, END_MS)
        deposits = exchange.fetch_deposits()
        bogus = kraken.malformed_truth(server.world)
    assert len(trades) == len(server.world.trades[ACCOUNT]) + 1
    negative = [t for t in trades if Decimal(t["amount"]) < 0]
    assert [t["id"] for t in negative] == [b["id"] for b in bogus["trades"]]
    assert [t["id"] for t in deposits if Decimal(t["amount"]) < 0] == [b["id"] for b in bogus["deposits"]]
