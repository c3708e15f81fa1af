"""One book for depth and matching (issue 18 §2): an order sent at the price a venue's depth endpoint showed fills at
those very levels — through ccxt over HTTP on Binance and Kraken (the venues with order endpoints), and on HTX's
SOL/USDT, whose book carries the planted gap, through the desk the order endpoints use."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from pipelines.services.clients import sandbox_api_base, sandbox_credentials
from pipelines.sources.exchanges.client import make_exchange
from sandbox import books
from sandbox.orders import desk
from sandbox.server import SandboxServer

pytestmark = pytest.mark.integration
D = Decimal


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def _exchange(sandbox: SandboxServer, venue: str, account: str) -> Any:
    exchange = make_exchange(venue, sandbox_credentials(sandbox.url)[account],
                             sandbox_url=sandbox_api_base(sandbox.url, venue), rate_limit=False, timeout_ms=10_000)
    exchange.load_markets()
    return exchange


def _levels(rows: list[list[Any]], n: int) -> list[tuple[Decimal, Decimal]]:
    return [(D(str(r[0])), D(str(r[1]))) for r in rows[:n]]


@pytest.mark.parametrize(("venue", "account", "symbol"), [("binance", "acme-binance-main", "SOL/USDT"),
                                                           ("kraken", "acme-kraken", "SOL/USD")])
def test_an_order_at_the_depth_price_fills_at_the_depth_levels(sandbox: SandboxServer, venue: str, account: str,
                                                               symbol: str) -> None:
    exchange = _exchange(sandbox, venue, account)
    book = exchange.fetch_order_book(symbol, 100)
    asks, bids = _levels(book["asks"], 3), _levels(book["bids"], 2)
    # A buy limited at the third ask shown, for the first two levels and half the third: it takes exactly those.
    amount = asks[0][1] + asks[1][1] + asks[2][1] / 2
    amount = exchange.amount_to_precision(symbol, amount)
    order = exchange.create_order(symbol, "limit", "buy", amount, str(asks[2][0]),
                                  {"clientOrderId": f"one-book-buy-{venue}"})
    engine_order = desk(sandbox.world).engines[venue].by_client_id(account, f"one-book-buy-{venue}")
    assert engine_order.status == "closed" and engine_order.filled == D(amount)
    assert [(f.price, f.qty) for f in engine_order.fills] == [asks[0], asks[1], (asks[2][0], D(amount) - asks[0][1]
                                                                                 - asks[1][1])]
    assert D(str(order["amount"])) == D(amount)
    # A sell at the best bid shown, for less than that level: one fill at that bid, not at a price of its own.
    sell = exchange.amount_to_precision(symbol, bids[0][1] / 4)
    exchange.create_order(symbol, "limit", "sell", sell, str(bids[0][0]),
                          {"clientOrderId": f"one-book-sell-{venue}"})
    sold = desk(sandbox.world).engines[venue].by_client_id(account, f"one-book-sell-{venue}")
    assert [(f.price, f.qty) for f in sold.fills] == [(bids[0][0], D(sell))]


def test_the_planted_gap_is_in_the_book_orders_fill_against(sandbox: SandboxServer) -> None:
    """HTX's SOL/USDT book lags the market by 2 %: an order there fills at the gapped levels the depth endpoint
    shows, so the arbitrage the scan reports (buy on HTX, sell on Binance) is what an order would really get."""
    world = sandbox.world
    htx = next(m for m in world.markets("htx") if m.symbol == "solusdt")
    binance = next(m for m in world.markets("binance") if m.symbol == "SOLUSDT")
    served = books.htx_depth(world, htx, 20)
    shown = [(D(repr(p)), D(repr(q))) for p, q in served["asks"][:2]]
    assert shown[0][0] < books.book(world, binance, 1)[1][0].price * D("0.985")  # the gap, as the depth shows it
    order = desk(world).place("bluefin-htx", htx, "buy", "market", shown[0][1] + shown[1][1], None, "one-book-htx")
    assert [(f.price, f.qty) for f in order.fills] == shown
    assert desk(world).book(htx) == books.book(world, htx, books.MAX_LEVELS)
