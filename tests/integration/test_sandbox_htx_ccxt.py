"""ccxt's own `htx` class, unchanged, against the sandbox's HTX dialect over HTTP.

The client signs with HTX's signature v2 and parses HTX's answers; the test drives the venue's own
pagination (48-hour windows within 120 days for trades, with the `from` cursor inside a full window;
transfer ids for deposits and withdrawals; `from`/`to` for candles) and checks everything against the
world's truth. No connector code is involved: this is the dialect on its own.
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
from sandbox import htx
from sandbox.server import SandboxServer
from sandbox.world import END_MS

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000
# load_markets: spot only (otherwise ccxt also asks the linear and inverse contract APIs)
OPTIONS = {"fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def _client(sandbox: SandboxServer, *, secret: str | None = None, api_key: str | None = None
            ) -> tuple[ccxt.htx, str]:
    account_id = sandbox.world.venue_accounts("htx")[0].account_id
    creds = sandbox.world.credentials[account_id]
    exchange = ccxt.htx({"apiKey": api_key or creds.api_key, "secret": secret or creds.secret,
                         "enableRateLimit": False, "options": OPTIONS})
    exchange.number = str
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], sandbox_api_base(sandbox.url, "htx"))
    return exchange, account_id


def _stats(sandbox: SandboxServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{sandbox.url}/__sandbox/stats", timeout=5) as response:
        return json.load(response)["requests"]


def _all_trades(exchange: ccxt.htx, now: int, page: int = 500) -> list[dict[str, Any]]:
    """HTX's way: 48-hour windows back to 120 days before the venue's now; a full page continues with the
    `from` cursor (the oldest record's internal id, direct=prev) inside the same window."""
    trades: list[dict[str, Any]] = []
    end = now
    while end > now - 120 * DAY_MS:
        start = max(end - 2 * DAY_MS + 1, now - 120 * DAY_MS)
        params: dict[str, Any] = {"until": end}
        while True:
            rows = exchange.fetch_my_trades(None, start, page, params)
            trades += rows
            if len(rows) < page:
                break
            params = {"until": end, "from": min(int(r["info"]["id"]) for r in rows), "direct": "prev"}
        end = start - 1
    return trades


def _all_transfers(exchange: ccxt.htx, kind: str, page: int) -> list[dict[str, Any]]:
    """By transfer id, oldest first: `from` is inclusive, so the next page starts after the last id."""
    fetch = exchange.fetch_deposits if kind == "deposit" else exchange.fetch_withdrawals
    out: list[dict[str, Any]] = []
    cursor = 0
    while True:
        rows = fetch(None, None, page, {"from": cursor})
        out += rows
        if len(rows) < page:
            return out
        cursor = max(int(r["id"]) for r in rows) + 1


def test_markets_and_balance_match_the_world(sandbox: SandboxServer) -> None:
    exchange, account_id = _client(sandbox)
    before = _stats(sandbox)
    markets = exchange.load_markets()
    calls = {p: n - before.get(p, 0) for p, n in _stats(sandbox).items() if n != before.get(p, 0)}
    # spot symbols and the currency reference (chains → networks); nothing from the contract APIs
    assert calls == {"/htx/v1/common/symbols": 1, "/htx/v2/reference/currencies": 1}
    world_markets = sandbox.world.markets("htx")
    assert set(markets) == {m.unified for m in world_markets}
    btc = markets["BTC/USDT"]
    assert btc["id"] == "btcusdt" and btc["spot"] and btc["precision"]["price"] == "0.01"

    balance = exchange.fetch_balance()  # GET /v1/account/accounts first: the spot account's id
    reported = sandbox.world.reported_balances(account_id)
    assert {k: Decimal(v) for k, v in balance["total"].items()} == reported
    assert all(Decimal(v) == 0 for v in balance["used"].values())


def test_every_trade_arrives_once_through_the_venues_windows(sandbox: SandboxServer) -> None:
    exchange, account_id = _client(sandbox)
    exchange.load_markets()
    now = exchange.fetch_time()  # the venue's clock: its 120 days are counted from there
    assert now >= END_MS
    truth = sandbox.world.trades[account_id]
    trades = _all_trades(exchange, now)
    ids = [t["id"] for t in trades]
    assert len(ids) == len(set(ids)) == len(truth)
    by_id = {str(t.id): t for t in truth}
    assert set(ids) == set(by_id)
    markets = {m.symbol: m.unified for m in sandbox.world.markets("htx")}
    for row in trades:
        t = by_id[row["id"]]
        assert row["symbol"] == markets[t.symbol] and row["timestamp"] == t.time_ms
        assert row["side"] == ("buy" if t.is_buyer else "sell")
        assert Decimal(row["price"]) == t.price and Decimal(row["amount"]) == t.qty
        assert Decimal(row["fee"]["cost"]) == t.commission and row["fee"]["currency"] == t.commission_asset
        assert row["takerOrMaker"] == ("maker" if t.is_maker else "taker")


def test_the_from_cursor_pages_a_window_exactly(sandbox: SandboxServer) -> None:
    exchange, account_id = _client(sandbox)
    exchange.load_markets()
    now = exchange.fetch_time()
    times = [t.time_ms for t in sandbox.world.trades[account_id]]
    busiest = max(range(60), key=lambda d: sum(now - (d + 1) * 2 * DAY_MS < ms <= now - d * 2 * DAY_MS
                                               for ms in times))
    end = now - busiest * 2 * DAY_MS
    start = end - 2 * DAY_MS + 1
    whole = exchange.fetch_my_trades(None, start, 500, {"until": end})
    assert len(whole) > 6
    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"until": end}
    while True:
        rows = exchange.fetch_my_trades(None, start, 3, params)
        paged += rows
        if len(rows) < 3:
            break
        params = {"until": end, "from": min(int(r["info"]["id"]) for r in rows), "direct": "prev"}
    assert sorted(t["id"] for t in paged) == sorted(t["id"] for t in whole)


def test_the_venues_history_limits_are_enforced(sandbox: SandboxServer) -> None:
    exchange, _ = _client(sandbox)
    exchange.load_markets()
    now = exchange.fetch_time()
    # HTX's answer, which ccxt does not map further than ExchangeError
    with pytest.raises(ccxt.ExchangeError, match="invalid-start-date"):  # a window wider than 48 hours
        exchange.fetch_my_trades(None, now - 3 * DAY_MS, 100, {"until": now})
    with pytest.raises(ccxt.ExchangeError, match="invalid-start-date"):  # older than the 120 days kept
        exchange.fetch_my_trades(None, now - 121 * DAY_MS, 100, {"until": now - 120 * DAY_MS + DAY_MS})
    with pytest.raises(ccxt.ExchangeError, match="size"):
        exchange.fetch_my_trades(None, now - DAY_MS, 501, {"until": now})
    # no since: the last 48 hours only, newest first from the venue, at most `size`
    recent = exchange.fetch_my_trades(None, None, 500)
    assert all(now - 2 * DAY_MS <= t["timestamp"] <= now for t in recent)


def test_deposits_and_withdrawals_are_complete_by_transfer_id(sandbox: SandboxServer) -> None:
    exchange, account_id = _client(sandbox)
    exchange.load_markets()
    truth = sandbox.world.transfers[account_id]
    for kind in ("deposit", "withdrawal"):
        expected = sorted((t for t in truth if t.kind == kind), key=lambda t: (t.time_ms, t.id))
        rows = _all_transfers(exchange, kind, page=4)  # small pages: the cursor is exercised
        assert len(rows) == len({r["id"] for r in rows}) == len(expected)
        rows.sort(key=lambda r: (r["timestamp"], int(r["id"])))
        for row, t in zip(rows, expected, strict=True):
            assert row["type"] == kind and row["currency"] == t.coin and row["timestamp"] == t.time_ms
            assert Decimal(row["amount"]) == t.amount and Decimal(row["fee"]["cost"]) == t.fee
            assert row["status"] == t.status and row["txid"] == t.tx_id
    # the venue pages by id at most 100 a call (ccxt caps `limit` there too)
    assert len(exchange.fetch_deposits(None, None, 1000)) <= 100


def test_candles_are_closed_contiguous_and_paged_by_from(sandbox: SandboxServer) -> None:
    exchange, _ = _client(sandbox)
    exchange.load_markets()
    world = sandbox.world
    first_day = END_MS - 600 * DAY_MS
    candles: list[list[Any]] = []
    since = first_day
    while True:
        page = exchange.fetch_ohlcv("BTC/USDT", "1d", since, 200)  # /market/history/candles, from=since
        candles += page
        if len(page) < 200:
            break
        since = page[-1][0] + DAY_MS
    opens = [c[0] for c in candles]
    assert len(opens) > 400 and all(b - a == DAY_MS for a, b in pairwise(opens))
    assert opens[-1] + DAY_MS <= END_MS + 1  # every candle closed within the world
    for _, o, h, lo, c, v in candles:
        assert Decimal(lo) <= min(Decimal(o), Decimal(c)) and Decimal(h) >= max(Decimal(o), Decimal(c))
        assert Decimal(v) > 0
    hourly = exchange.fetch_ohlcv("ETH/BTC", "1h", None, 1000)  # no since: the latest 1000
    assert len(hourly) == 1000 and hourly[-1][0] == END_MS + 1 - 3_600_000
    # the venue's basis: HTX's closes are the world's path with HTX's spread to the reference price
    eth_btc = next(m for m in world.markets("htx") if m.symbol == "ethbtc")
    assert Decimal(hourly[-1][4]) == Decimal(repr(world.prices.market_close(eth_btc, world.prices.hours - 1))
                                             ).quantize(eth_btc.tick)
    with pytest.raises(ccxt.ExchangeError, match="invalid size"):
        exchange.fetch_ohlcv("BTC/USDT", "1h", None, 1000, {"size": 1001})


def test_tickers_are_one_call_and_stable(sandbox: SandboxServer) -> None:
    exchange, _ = _client(sandbox)
    exchange.load_markets()
    symbols = sorted(m.unified for m in sandbox.world.markets("htx"))
    before = _stats(sandbox).get("/htx/market/tickers", 0)
    first = exchange.fetch_tickers(symbols)
    again = exchange.fetch_tickers(symbols)
    assert _stats(sandbox)["/htx/market/tickers"] - before == 2  # one call for every symbol
    assert set(first) == set(symbols)
    strip = ("info",)
    assert [{k: v for k, v in first[s].items() if k not in strip} for s in symbols] == \
        [{k: v for k, v in again[s].items() if k not in strip} for s in symbols]  # re-runs ingest nothing new
    for t in first.values():
        assert Decimal(t["bid"]) < Decimal(t["last"]) < Decimal(t["ask"])
        assert Decimal(t["low"]) <= Decimal(t["high"]) and Decimal(t["baseVolume"]) > 0
    single = exchange.fetch_ticker("BTC/USDT")  # /market/detail/merged
    assert single["last"] == first["BTC/USDT"]["last"]


def test_order_book_is_sane(sandbox: SandboxServer) -> None:
    exchange, _ = _client(sandbox)
    exchange.load_markets()
    for limit, levels in ((5, 5), (20, 20), (None, 150)):
        book = exchange.fetch_order_book("ETH/USDT", limit)
        assert len(book["bids"]) == len(book["asks"]) == levels
        bids = [Decimal(str(p)) for p, _ in book["bids"]]
        asks = [Decimal(str(p)) for p, _ in book["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        assert book["timestamp"] == END_MS


def test_wrong_credentials_are_refused_as_htx_refuses_them(sandbox: SandboxServer) -> None:
    wrong_secret, _ = _client(sandbox, secret="0" * 32)
    with pytest.raises(ccxt.AuthenticationError, match="Verification failure"):
        wrong_secret.fetch_balance()
    unknown_key, _ = _client(sandbox, api_key="00000000-11111111-22222222-33333")
    with pytest.raises(ccxt.AuthenticationError, match="Incorrect Access key"):
        unknown_key.fetch_balance()
    stale, _ = _client(sandbox)
    stale.load_markets()
    stale.nonce = lambda: stale.milliseconds() - 10 * 60_000  # signed ten minutes ago: HTX allows five
    with pytest.raises(ccxt.AuthenticationError, match="submission time"):
        stale.fetch_my_trades(None, None, 10)


def test_malformed_records_are_fresh_negative_and_still_parse(sandbox: SandboxServer) -> None:
    exchange, account_id = _client(sandbox)
    exchange.load_markets()
    truth = htx.malformed_truth(sandbox.world)
    assert len(truth["trades"]) == len(truth["deposits"]) == 1
    planted_at = sandbox.world.trades[account_id][3].time_ms  # the bogus trade sits just after this one
    sandbox.set_faults(malformed=True)
    try:
        trades = exchange.fetch_my_trades(None, planted_at - DAY_MS, 500, {"until": planted_at + DAY_MS})
        deposits = _all_transfers(exchange, "deposit", page=100)
    finally:
        sandbox.set_faults(malformed=False)
    real_trade_ids = {str(t.id) for t in sandbox.world.trades[account_id]}
    assert len(trades) == 1 + sum(abs(t.time_ms - planted_at) <= DAY_MS for t in sandbox.world.trades[account_id])
    bogus = [t for t in trades if t["id"] not in real_trade_ids]
    assert [t["id"] for t in bogus] == [truth["trades"][0]["id"]] and Decimal(bogus[0]["amount"]) < 0
    assert bogus[0]["symbol"] == truth["trades"][0]["symbol"]
    negative = [d for d in deposits if Decimal(d["amount"]) < 0]
    assert [d["id"] for d in negative] == [truth["deposits"][0]["id"]]
    assert len(deposits) == 1 + sum(t.kind == "deposit" for t in sandbox.world.transfers[account_id])
