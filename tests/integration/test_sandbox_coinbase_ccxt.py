"""ccxt's own `coinbase` class, unchanged, against the sandbox's Coinbase dialect over HTTP: CB-ACCESS-* HMAC
verified, Advanced Trade fills paged by the venue's cursor, v2 wallet transactions paged by starting_after,
candles refused beyond 350 a request, stable tickers in one call, a sane book. Every figure is checked against
the world's truth, not against what the dialect happens to return."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

import ccxt
import pytest

from pipelines.services.clients import sandbox_api_base
from pipelines.sources.exchanges.client import rewrite_api_urls
from pipelines.sources.exchanges.normalise import normalise_transfer
from sandbox import coinbase
from sandbox.server import SandboxServer
from sandbox.world import END_MS, START_MS

pytestmark = pytest.mark.integration
ACCOUNT = "acme-coinbase"
DAY = 86_400_000
STATUS = {"ok": "ok", "pending": "pending", "failed": "failed", "canceled": "canceled"}
OPTIONS = {"fetchBalance": "v3PrivateGetBrokerageAccounts"}  # one call for every currency (what the connector sets)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:  # well-formed records only
        yield server


def _client(server: SandboxServer, *, key: str | None = None, secret: str | None = None) -> ccxt.coinbase:
    creds = server.world.credentials[ACCOUNT]
    exchange = ccxt.coinbase({"apiKey": key or creds.api_key, "secret": secret or creds.secret,
                              "enableRateLimit": False, "timeout": 10_000, "options": dict(OPTIONS)})
    exchange.number = str  # exact strings → Decimal
    exchange.enableLastJsonResponse = True  # the v2 cursor (pagination.next_starting_after) is in the raw body
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], sandbox_api_base(server.url, "coinbase"))
    return exchange


def _stats(server: SandboxServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.url}/__sandbox/stats", timeout=10) as response:
        return json.loads(response.read())["requests"]


def _all_fills(exchange: ccxt.coinbase, limit: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Advanced Trade's paging: newest first, an opaque `cursor` (ccxt copies it onto the info of the response's
    first fill, but then sorts the page oldest first, so it is read from the raw body)."""
    rows: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        page = exchange.fetch_my_trades(limit=limit, params={**params, **({"cursor": cursor} if cursor else {})})
        pages += 1
        assert len(page) <= limit
        rows += page
        cursor = exchange.last_json_response["cursor"]
        assert not page or any(t["info"].get("cursor") == cursor for t in page) or not cursor
        if not cursor:
            return rows, pages


def _all_transactions(exchange: ccxt.coinbase, code: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """v2 wallet transactions: one wallet per currency, oldest first with order=asc, `starting_after` an id."""
    rows: list[dict[str, Any]] = []
    after, pages = None, 0
    while True:
        params = {"order": "asc", **({"starting_after": after} if after else {})}
        rows += exchange.fetch_deposits_withdrawals(code, limit=limit, params=params)
        pages += 1
        after = exchange.last_json_response["pagination"]["next_starting_after"]
        if not after:
            return rows, pages


def test_markets_currencies_and_balance(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    before = _stats(sandbox)
    markets = exchange.load_markets()
    calls = {p: n - before.get(p, 0) for p, n in _stats(sandbox).items() if n != before.get(p, 0)}
    # ccxt 4.5.90 always asks for spot and future products, the signed fee tier and the v2 currency lists
    assert calls == {"/coinbase/api/v3/brokerage/market/products": 2,
                     "/coinbase/api/v3/brokerage/transaction_summary": 1, "/coinbase/v2/currencies": 1,
                     "/coinbase/v2/currencies/crypto": 1, "/coinbase/v2/exchange-rates": 1}
    world_markets = sandbox.world.markets("coinbase")
    assert {m.unified for m in world_markets} == set(markets)
    for m in world_markets:
        assert markets[m.unified]["id"] == m.symbol  # native product ids (BTC-USD)
        assert Decimal(str(markets[m.unified]["precision"]["price"])) == m.tick
        assert Decimal(str(markets[m.unified]["precision"]["amount"])) == m.step
    assert {"BTC", "ETH", "USD"} <= set(exchange.currencies)

    balance = exchange.fetch_balance()
    truth = sandbox.world.reported_balances(ACCOUNT)
    assert {k: Decimal(v) for k, v in balance["total"].items() if Decimal(v) != 0} == {
        k: v for k, v in truth.items() if v != 0}
    assert all(Decimal(balance[k]["used"]) == 0 for k in truth)  # nothing on hold: no open orders


def test_every_fill_once_through_the_cursor(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    world_trades = sandbox.world.trades[ACCOUNT]
    rows, pages = _all_fills(exchange, 100)
    assert pages == -(-len(world_trades) // 100)  # the venue's page size forces the cursor
    starts = [r["timestamp"] for r in rows[::100]]
    assert starts == sorted(starts, reverse=True)  # pages go back in time: the venue serves newest first
    by_id = {int(r["id"]): r for r in rows}
    assert len(by_id) == len(rows) == len(world_trades)
    markets = {m.symbol: m for m in sandbox.world.markets("coinbase")}
    for t in world_trades:
        r = by_id[t.id]
        assert r["symbol"] == markets[t.symbol].unified and r["timestamp"] == t.time_ms
        assert (Decimal(r["price"]), Decimal(r["amount"])) == (t.price, t.qty)
        assert r["side"] == ("buy" if t.is_buyer else "sell")
        assert r["takerOrMaker"] == ("maker" if t.is_maker else "taker")
        assert Decimal(r["fee"]["cost"]) == t.commission and r["fee"]["currency"] == t.commission_asset

    # A time window (since/until → start/end_sequence_timestamp, both inclusive) and a product filter.
    lower, upper = world_trades[40].time_ms, world_trades[140].time_ms
    window, _ = _all_fills(exchange, 30, start_sequence_timestamp=exchange.iso8601(lower),
                           end_sequence_timestamp=exchange.iso8601(upper))
    assert sorted(int(r["id"]) for r in window) == sorted(t.id for t in world_trades[40:141])
    one = exchange.fetch_my_trades("ETH/USD", limit=1000)
    assert len(one) == sum(1 for t in world_trades if t.symbol == "ETH-USD")


def test_transfers_per_wallet_through_starting_after(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    exchange.load_markets()
    truth = sandbox.world.transfers[ACCOUNT]
    markets = {m.symbol: m for m in sandbox.world.markets("coinbase")}
    fills = sandbox.world.trades[ACCOUNT]
    listed: list[dict[str, Any]] = []
    for code in sorted({t.coin for t in truth} | {c for t in fills for c in (markets[t.symbol].base,
                                                                            markets[t.symbol].quote)}):
        rows, pages = _all_transactions(exchange, code, 5)
        expected = [t for t in truth if t.coin == code]
        legs = [t for t in fills if code in (markets[t.symbol].base, markets[t.symbol].quote)]
        assert pages == max(1, -(-(len(expected) + len(legs)) // 5))
        assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)  # order=asc
        listed += rows
    # The list holds every movement of the wallet, as Coinbase's does: each fill twice (base and quote wallet),
    # which ccxt reads as deposits and withdrawals; the normaliser types them `fill` (booked from the trades path).
    assert len({r["id"] for r in listed}) == len(listed) == len(truth) + 2 * len(fills)
    typed = [normalise_transfer(r, tenant_id="acme", account_id=ACCOUNT, source="coinbase", run_id=None)
             for r in listed]
    assert {r["type"] for r in listed} == {"deposit", "withdrawal"}  # ccxt alone: every fill a transfer
    assert sum(1 for r in typed if r["transfer_type"] == "fill") == 2 * len(fills)
    seen = [r for r, n in zip(listed, typed, strict=True) if n["transfer_type"] != "fill"]
    assert len(seen) == len(truth)
    # A send's v2 amount is the wallet's whole debit, its network fee included (ccxt reads the net
    # transaction_amount where the venue gives one, else that debit, and adds the fee); the normaliser books
    # what left net of the fee, and the fee beside it, so the two add up to the debit exactly once.
    rows = [normalise_transfer(r, tenant_id="acme", account_id=ACCOUNT, source="coinbase", run_id=None)
            for r in seen]
    got = sorted((r["occurred_at"].timestamp() * 1000, r["transfer_type"], r["asset"],
                  r["amount"] + (r["fee_amount"] or 0), r["status"]) for r in rows)
    assert got == sorted((t.time_ms, t.kind, t.coin, t.amount + (t.fee if t.kind == "withdrawal" else 0),
                          STATUS[t.status]) for t in truth)
    sends = {r["transfer_id"]: r for r in rows if r["transfer_type"] == "withdrawal" and r["asset"] != "USD"}
    assert sends and all((sends[coinbase._uuid("tx", t.id)]["amount"], sends[coinbase._uuid("tx", t.id)]["fee_amount"])
                         == (t.amount, t.fee) for t in truth if t.kind == "withdrawal" and t.coin != "USD")
    assert any(Decimal(r["amount"]) != sends[r["id"]]["amount"] for r in seen if r["id"] in sends)  # ccxt alone
    crypto = [r for r in seen if r["currency"] != "USD"]
    assert crypto and all(r["txid"] and (r["address"] or r["type"] == "deposit") for r in crypto)

    # The venue's page size: at most 100, whatever is asked.
    exchange.fetch_deposits_withdrawals("USD", limit=500)
    assert exchange.last_json_response["pagination"]["limit"] == 100
    with pytest.raises(ccxt.ExchangeError):  # a cursor the venue never issued
        exchange.fetch_deposits_withdrawals("USD", params={"starting_after": "not-an-id"})


def test_candles_closed_contiguous_and_capped(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    exchange.load_markets()
    since, opens = START_MS, []
    while True:  # ccxt asks 300 candles from `since`; the connector pages forward from the last one
        # ETH/USD: BTC/USD's daily candles carry the world's planted 3-day outage (test_sandbox_dialects_ccxt)
        page = exchange.fetch_ohlcv("ETH/USD", "1d", since=since)
        assert len(page) <= 300
        if not page:
            break
        assert all(Decimal(c[3]) <= min(Decimal(c[1]), Decimal(c[4])) for c in page)
        assert all(Decimal(c[2]) >= max(Decimal(c[1]), Decimal(c[4])) for c in page)
        opens += [c[0] for c in page]
        since = page[-1][0] + DAY
    assert opens == sorted(set(opens)) and all(b - a == DAY for a, b in pairwise(opens))
    assert opens[-1] + DAY <= END_MS + 1  # closed only: the last candle ends within the world
    assert len(opens) == (END_MS + 1 - opens[0]) // DAY

    # The venue's own cap (ccxt keeps at most 300 of a page, so the raw endpoint shows it): 350 served, 351 refused.
    end_s = (END_MS + 1) // 1000
    raw = exchange.v3PublicGetBrokerageMarketProductsProductIdCandles(
        {"product_id": "ETH-BTC", "granularity": "ONE_HOUR", "start": end_s - 350 * 3600, "end": end_s})
    hours = [int(c["start"]) for c in raw["candles"]]
    assert len(hours) == 350 and hours == sorted(hours, reverse=True) and hours[0] == end_s - 3600
    with pytest.raises(ccxt.BadRequest):
        exchange.fetch_ohlcv("ETH/BTC", "1h", since=END_MS + 1 - 351 * 3_600_000, params={"until": END_MS + 1})


def test_tickers_in_one_call_stable_and_a_sane_book(sandbox: SandboxServer) -> None:
    exchange = _client(sandbox)
    exchange.load_markets()
    symbols = sorted(m.unified for m in sandbox.world.markets("coinbase"))
    before = _stats(sandbox)
    first = exchange.fetch_tickers(symbols)
    after = _stats(sandbox)
    assert sum(after.values()) - sum(before.values()) == 1  # one products call for every symbol
    again = exchange.fetch_tickers(symbols)
    assert set(first) == set(symbols)
    assert {s: (t["last"], t["timestamp"]) for s, t in first.items()} == {
        s: (t["last"], t["timestamp"]) for s, t in again.items()}  # re-runs ingest nothing new
    assert all(Decimal(t["last"]) > 0 for t in first.values())

    for symbol in symbols:
        book = exchange.fetch_order_book(symbol, 5)
        bids, asks = [Decimal(b[0]) for b in book["bids"]], [Decimal(a[0]) for a in book["asks"]]
        assert len(bids) == len(asks) == 5
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        assert bids[0] < Decimal(first[symbol]["last"]) < asks[0]


def test_wrong_credentials_are_refused_as_coinbase_refuses_them(sandbox: SandboxServer) -> None:
    creds = sandbox.world.credentials[ACCOUNT]
    assert len(creds.secret) == 64 and creds.password is None  # a legacy API key: CB-ACCESS-* HMAC
    for exchange in (_client(sandbox, secret="0" * 64), _client(sandbox, key="sbx" + "0" * 61)):
        with pytest.raises(ccxt.AuthenticationError):
            exchange.fetch_balance()
    stale = _client(sandbox)
    stale.load_markets()
    stale.nonce = lambda: int(time.time() * 1000) - 120_000  # a clock two minutes behind: timestamp expired
    with pytest.raises(ccxt.AuthenticationError):
        stale.fetch_my_trades(limit=1)
    # public market data needs no key at all
    urls = rewrite_api_urls(ccxt.coinbase().urls["api"], sandbox_api_base(sandbox.url, "coinbase"))
    assert ccxt.coinbase({"urls": {"api": urls}}).fetch_ohlcv("BTC/USD", "1d", since=START_MS, limit=3)


def test_malformed_records_still_parse() -> None:
    with SandboxServer(port=0, malformed=True) as server:
        exchange = _client(server)
        trades, _ = _all_fills(exchange, 1000)
        negative = [t for t in trades if Decimal(t["amount"]) < 0]
        assert len(trades) == len(server.world.trades[ACCOUNT]) + 1 and len(negative) == 1
        assert {int(t.id) for t in server.world.trades[ACCOUNT]}.isdisjoint({int(negative[0]["id"])})
        rows, _ = _all_transactions(exchange, "USD", 100)
        bogus = [r for r in rows if Decimal(r["fee"]["cost"] or 0) < 0]
        assert len(bogus) == 1 and bogus[0]["type"] == "deposit"
        truth = coinbase.malformed_truth(server.world)
        assert [t["id"] for t in truth["trades"]] == [negative[0]["id"]]
        assert [d["id"] for d in truth["deposits"]] == [bogus[0]["id"]]
