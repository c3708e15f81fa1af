"""ccxt's own classes for Coinbase, Kraken, Bitfinex and HTX, unchanged, against the sandbox over HTTP: each
dialect signs and parses as the real venue does. Pagination is driven by the connector's own sync functions
(the same code the Dagster assets run), and every figure is checked against the world's truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import ccxt
import pytest

from pipelines.services.clients import sandbox_api_base
from pipelines.sources.exchanges.client import Credentials, ExchangeAccount, make_exchange
from pipelines.sources.exchanges.market_data import sync_ohlcv
from pipelines.sources.exchanges.sync import sync_trades, sync_transfers, venue_now
from pipelines.sources.exchanges.venues import profile
from sandbox.server import SandboxServer
from sandbox.world import MARKET_BY_VENUE_SYMBOL, PRICE_ANOMALIES, START_MS, WORLD_END, WORLD_START

pytestmark = pytest.mark.integration
VENUES = ("coinbase", "kraken", "bitfinex", "htx")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def _client(sandbox: SandboxServer, venue: str, secret: str | None = None) -> tuple[ccxt.Exchange, str]:
    account = sandbox.world.venue_accounts(venue)[0].account_id
    creds = sandbox.world.credentials[account]
    exchange = make_exchange(venue, Credentials(creds.api_key, secret or creds.secret, creds.password),
                             sandbox_url=sandbox_api_base(sandbox.url, venue), rate_limit=False)
    return exchange, account


@pytest.mark.parametrize("venue", VENUES)
def test_balances_trades_and_transfers_match_the_world(sandbox: SandboxServer, venue: str) -> None:
    exchange, account_id = _client(sandbox, venue)
    world = sandbox.world
    markets = exchange.load_markets()
    assert {m.unified for m in world.markets(venue)} <= set(markets)
    balance = exchange.fetch_balance()
    assert {k: Decimal(v) for k, v in balance["total"].items() if Decimal(v) != 0} == {
        k: v for k, v in world.reported_balances(account_id).items() if v != 0}

    account = ExchangeAccount("t", account_id, "p", venue, "sandbox", None, history_start_ms=START_MS)
    now = venue_now(exchange)  # HTX: the venue's clock (its 120 days of trades are counted from it)
    symbols = sorted(m.unified for m in world.markets(venue)) if profile(venue).trades_per_symbol else None
    trades = [r for page in sync_trades(exchange, profile(venue), account, symbols, {}, now, None) for r in page.rows]
    assert len(trades) == len({r["source_record_id"] for r in trades})  # no overlap: each trade arrives once
    assert len({r["source_record_id"] for r in trades}) == len(world.trades[account_id])
    assert sum(Decimal(r["quantity"]) for r in trades) == sum(t.qty for t in world.trades[account_id])

    # small pages, so every venue's paging (windows split, ids, wallet cursors) is exercised, not just one page
    small = replace(profile(venue), transfer_page_limit=5)
    pages = list(sync_transfers(exchange, small, account, {}, now, None))
    # Coinbase's v2 list also carries each fill, in both wallets: typed `fill`, booked from the trades path
    listed = [r for page in pages for r in page.rows]
    transfers = [r for r in listed if r["transfer_type"] != "fill"]
    assert len(listed) - len(transfers) == (2 * len(world.trades[account_id]) if venue == "coinbase" else 0)
    expected = {(t.kind, t.status) for t in world.transfers[account_id]}
    assert len({(r["transfer_type"], r["transfer_id"]) for r in transfers}) == len(world.transfers[account_id])
    assert {(r["transfer_type"], r["status"]) for r in transfers} == expected


@pytest.mark.parametrize("venue", VENUES)
def test_market_data_is_stable_closed_and_sane(sandbox: SandboxServer, venue: str) -> None:
    exchange, _ = _client(sandbox, venue)
    exchange.load_markets()
    symbols = sorted(m.unified for m in sandbox.world.markets(venue))
    first, again = exchange.fetch_tickers(symbols), exchange.fetch_tickers(symbols)
    assert set(first) == set(symbols)
    assert {s: t["last"] for s, t in first.items()} == {s: t["last"] for s, t in again.items()}  # re-runs add nothing
    candles = [r for page in sync_ohlcv(exchange, symbols[0], "1d", None, START_MS, exchange.milliseconds(), None,
                                        profile(venue).ohlcv_page_limit) for r in page.rows]
    opens = sorted(r["open_time"] for r in candles)
    # Every day of the world, except the days of an outage the world planted on this market: a short page
    # (Coinbase's time window around the gap) must not end the sync.
    gaps = {(start + timedelta(days=d)).date() for v, m, start, end, factor in PRICE_ANOMALIES
            if factor is None and v == venue and MARKET_BY_VENUE_SYMBOL[(v, m)].unified == symbols[0]
            for d in range((end - start).days)}
    every_day = [WORLD_START.date() + timedelta(days=d) for d in range((WORLD_END - WORLD_START).days + 1)]
    assert [o.date() for o in opens] == [d for d in every_day if d not in gaps]
    assert venue != "coinbase" or gaps  # the planted outage is on Coinbase's BTC/USD, the first symbol
    assert all(r["low"] <= min(r["open"], r["close"]) and r["high"] >= max(r["open"], r["close"]) for r in candles)
    book = exchange.fetch_order_book(symbols[0], 5)
    assert book["bids"] and book["asks"] and Decimal(str(book["bids"][0][0])) < Decimal(str(book["asks"][0][0]))


@pytest.mark.parametrize("venue", VENUES)
def test_a_wrong_secret_is_refused_as_the_venue_refuses_it(sandbox: SandboxServer, venue: str) -> None:
    wrong = "d3JvbmctYnV0LWJhc2U2NA==" if venue == "kraken" else "wrong-secret-" + "0" * 40
    exchange, _ = _client(sandbox, venue, secret=wrong)
    with pytest.raises(ccxt.AuthenticationError):
        exchange.fetch_balance()
