"""The sandbox's order-book endpoints (sandbox/books.py) through each dialect's own dispatch, in each venue's
documented layout: Binance GET /api/v3/depth, Kraken /0/public/Depth, Coinbase Advanced product_book, Bitfinex
/v2/book, HTX /market/depth. All serve the same book (sandbox.matching.order_book around the market's price), and
the demo world's one planted gap — HTX's SOL/USDT book 2 % under the market — is the only cross-venue gap that
survives two taker fees."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sandbox import binance, bitfinex, books, coinbase, htx, kraken
from sandbox.binance import Request
from sandbox.matching import order_book
from sandbox.world import FEE_RULES, VENUE_MARKETS, World

D = Decimal


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def get(module: Any, world: World, path: str, **params: str) -> tuple[int, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return module.dispatch(world, Request("GET", path, params, query, {}), malformed=False)


def market(venue: str, symbol: str) -> Any:
    return next(m for m in VENUE_MARKETS[venue] if m.symbol == symbol)


def expected(world: World, venue: str, symbol: str, levels: int) -> tuple[list[Any], list[Any]]:
    m = market(venue, symbol)
    close = D(str(world.prices.market_close(m, world.prices.hours - 1)))
    return order_book(m, close * (1 + books.PLANTED_GAP.get((venue, symbol), D(0))), levels)


def test_binance_depth(world: World) -> None:
    status, body = get(binance, world, "/api/v3/depth", symbol="BTCUSDT", limit="5")
    bids, asks = expected(world, "binance", "BTCUSDT", 5)
    assert status == 200 and set(body) == {"lastUpdateId", "bids", "asks"} and isinstance(body["lastUpdateId"], int)
    assert body["bids"] == [[str(lv.price), str(lv.qty)] for lv in bids]
    assert body["asks"] == [[str(lv.price), str(lv.qty)] for lv in asks]
    assert len(get(binance, world, "/api/v3/depth", symbol="BTCUSDT")[1]["bids"]) == 100  # Binance's default
    assert get(binance, world, "/api/v3/depth", symbol="NOPE")[1]["code"] == -1121


def test_kraken_depth(world: World) -> None:
    status, body = get(kraken, world, "/0/public/Depth", pair="XXBTZUSD", count="3")
    bids, asks = expected(world, "kraken", "XXBTZUSD", 3)
    assert status == 200 and body["error"] == []
    book = body["result"]["XXBTZUSD"]
    assert [r[:2] for r in book["bids"]] == [[str(lv.price), str(lv.qty)] for lv in bids]
    assert [r[:2] for r in book["asks"]] == [[str(lv.price), str(lv.qty)] for lv in asks]
    assert all(isinstance(r[2], int) for r in book["bids"] + book["asks"])  # [price, volume, timestamp]


def test_coinbase_product_book(world: World) -> None:
    status, body = get(coinbase, world, "/api/v3/brokerage/market/product_book", product_id="ETH-USD", limit="4")
    bids, asks = expected(world, "coinbase", "ETH-USD", 4)
    assert status == 200 and set(body) == {"pricebook", "last", "mid_market", "spread_bps", "spread_absolute"}
    book = body["pricebook"]
    assert book["product_id"] == "ETH-USD" and book["time"].endswith("Z")
    assert book["bids"] == [{"price": str(lv.price), "size": str(lv.qty)} for lv in bids]
    assert book["asks"] == [{"price": str(lv.price), "size": str(lv.qty)} for lv in asks]
    assert D(body["spread_absolute"]) == asks[0].price - bids[0].price
    assert D(body["mid_market"]) == (asks[0].price + bids[0].price) / 2


@pytest.mark.parametrize("precision", ["P0", "R0"])
def test_bitfinex_book(world: World, precision: str) -> None:
    status, body = get(bitfinex, world, f"/v2/book/tBTCUSD/{precision}", len="25")
    bids, asks = expected(world, "bitfinex", "tBTCUSD", 25)
    assert status == 200 and len(body) == 50
    price_at = 1 if precision == "R0" else 0
    assert [(D(str(r[price_at])), D(str(r[2]))) for r in body[:25]] == [(lv.price, lv.qty) for lv in bids]
    assert [(D(str(r[price_at])), -D(str(r[2]))) for r in body[25:]] == [(lv.price, lv.qty) for lv in asks]


def test_htx_depth(world: World) -> None:
    status, body = get(htx, world, "/market/depth", symbol="solusdt", type="step0", depth="5")
    bids, asks = expected(world, "htx", "solusdt", 5)
    assert status == 200 and body["status"] == "ok" and body["ch"] == "market.solusdt.depth"
    assert [[D(str(p)), D(str(q))] for p, q in body["tick"]["bids"]] == [[lv.price, lv.qty] for lv in bids]
    assert [[D(str(p)), D(str(q))] for p, q in body["tick"]["asks"]] == [[lv.price, lv.qty] for lv in asks]
    assert get(htx, world, "/market/depth", symbol="solusdt", type="step0", depth="7")[1]["status"] == "error"


def test_the_planted_gap_is_the_only_one_two_taker_fees_leave(world: World) -> None:
    """Across every pair of venues quoting the same coin and quote: only buying SOL on HTX and selling it on Binance
    pays after both venues' taker fees, at the top of the books."""
    tops: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    for venue, markets in VENUE_MARKETS.items():
        for m in markets:
            bids, asks = books.book(world, m, 1)
            tops.setdefault(m.unified, {})[venue] = (bids[0].price, asks[0].price)
    paying = []
    fee: Callable[[str], Decimal] = lambda v: FEE_RULES[v][0]  # noqa: E731
    for symbol, venues in tops.items():
        for a, (_, ask) in venues.items():
            for b, (bid, _) in venues.items():
                if a != b and bid * (1 - fee(b)) > ask * (1 + fee(a)):
                    paying.append((symbol, a, b))
    assert paying == [("SOL/USDT", "htx", "binance")]
