"""The venues' public order-book endpoints (issue 18 §3), each in its venue's documented layout, all built from one
book per market: `sandbox.matching.order_book` around the market's last-hour close (its venue basis included).

    Binance   GET /api/v3/depth?symbol=&limit=                 {"lastUpdateId", "bids": [["price", "qty"]], "asks"}
    Kraken    GET /0/public/Depth?pair=&count=                 {"PAIR": {"asks": [["price", "volume", ts]], "bids"}}
    Coinbase  GET /api/v3/brokerage/market/product_book?product_id=&limit=
              {"pricebook": {"product_id", "bids": [{"price", "size"}], "asks", "time"}, "last", "mid_market",
               "spread_bps", "spread_absolute"}
    Bitfinex  GET /v2/book/{symbol}/{P0..P3|R0}?len=1|25|100   [[price, count, ±amount]] (bids positive, asks
              negative); R0: [[order id, price, ±amount]]
    HTX       GET /market/depth?symbol=&type=step0&depth=      {"tick": {"bids": [[price, size]], "asks", "ts",
              "version"}} (the dialect wraps it)

Each dialect keeps its own routing and errors and calls one function here (a few lines per dialect).

The planted gap: HTX's SOL/USDT book lags the market by PLANTED_GAP (its mid 2 % under the world's price), so a
cross-venue scan of the demo world finds one opportunity — buy SOL on HTX, sell it on Binance — and nothing else
(the other venues' bases are a few bps apart, less than two taker fees). The world itself (trades, balances, the
tickers) is not touched: the pinned digest of the demo world does not change.

Pure: no I/O, no clock. Decimals until the venue's own layout (Bitfinex and HTX send JSON numbers).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.matching import Level, order_book
from sandbox.world import END_MS, Market, World

# (venue, native symbol) -> the book's offset from the market's price: a lagging book, the demo's arbitrage.
PLANTED_GAP: dict[tuple[str, str], Decimal] = {("htx", "solusdt"): Decimal("-0.02")}
MAX_LEVELS = 500  # more levels than any client asks of the sandbox; a bigger limit gets these


def mid(world: World, market: Market) -> Decimal:
    """The book's centre: the market's last-hour close (the venue's basis included), planted gap applied."""
    close = Decimal(str(world.prices.market_close(market, world.prices.hours - 1)))
    return close * (1 + PLANTED_GAP.get((market.venue, market.symbol), Decimal(0)))


def book(world: World, market: Market, levels: int) -> tuple[list[Level], list[Level]]:
    """(bids best first, asks best first): what every dialect's depth endpoint serves."""
    return order_book(market, mid(world, market), max(1, min(levels, MAX_LEVELS)))


def _pairs(levels: list[Level]) -> list[list[str]]:
    return [[str(lv.price), str(lv.qty)] for lv in levels]


def binance_depth(world: World, market: Market, limit: int) -> dict[str, Any]:
    """Binance: limit default 100, at most 5000 (a larger one is cut to 5000)."""
    bids, asks = book(world, market, min(limit, 5000))
    return {"lastUpdateId": END_MS // 1000, "bids": _pairs(bids), "asks": _pairs(asks)}


def kraken_depth(world: World, market: Market, count: int) -> dict[str, Any]:
    """Kraken: count 1..500 (default 100); each level [price, volume, timestamp]."""
    bids, asks = book(world, market, count)
    stamp = END_MS // 1000
    return {market.symbol: {"asks": [[*p, stamp] for p in _pairs(asks)],
                            "bids": [[*p, stamp] for p in _pairs(bids)]}}


def coinbase_product_book(world: World, market: Market, limit: int, time_iso: str) -> dict[str, Any]:
    """Coinbase Advanced Trade: the pricebook with the best bid/ask's mid and spread beside it."""
    bids, asks = book(world, market, limit)
    best_bid, best_ask = bids[0].price, asks[0].price
    middle = (best_bid + best_ask) / 2
    return {"pricebook": {"product_id": market.symbol, "time": time_iso,
                          "bids": [{"price": str(lv.price), "size": str(lv.qty)} for lv in bids],
                          "asks": [{"price": str(lv.price), "size": str(lv.qty)} for lv in asks]},
            "last": str(middle), "mid_market": str(middle),
            "spread_bps": str(((best_ask - best_bid) / middle * 10_000).quantize(Decimal("0.000001"))),
            "spread_absolute": str(best_ask - best_bid)}


def bitfinex_book(world: World, market: Market, precision: str, length: int) -> list[list[Any]]:
    """Bitfinex v2: bids then asks, amounts positive for bids and negative for asks; one order per level here."""
    bids, asks = book(world, market, length)
    if precision == "R0":
        return ([[1000 + i, float(lv.price), float(lv.qty)] for i, lv in enumerate(bids)]
                + [[2000 + i, float(lv.price), -float(lv.qty)] for i, lv in enumerate(asks)])
    return ([[float(lv.price), 1, float(lv.qty)] for lv in bids]
            + [[float(lv.price), 1, -float(lv.qty)] for lv in asks])


def htx_depth(world: World, market: Market, depth: int) -> dict[str, Any]:
    """HTX: the tick of /market/depth (step0: 150 levels, or depth 5/10/20)."""
    bids, asks = book(world, market, depth)
    return {"ts": END_MS, "version": END_MS // 1000,
            "bids": [[float(lv.price), float(lv.qty)] for lv in bids],
            "asks": [[float(lv.price), float(lv.qty)] for lv in asks]}
