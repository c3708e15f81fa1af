"""The venues' order desks: one `matching.MatchingEngine` per venue over the world, for the dialects' order endpoints.

The book of a market is the one the venue's depth endpoint serves (`books.book`: the last-hour close on that venue,
the planted gap included, all MAX_LEVELS levels), so an order routed on what the depth endpoint showed fills against
those very levels; its depth scaled by `depth` (1: as the book is; a test thins it to see a partial fill). Every
fill is booked into the world at once as the account's trade (`World.book_fill`): the balances change and the
venue's normal trade history lists it, with the order's id, so Coinbook's trade sync brings it back like any other
trade.

One desk per world (`desk(world)`), created on the first order: a world nobody trades on is not touched, so the
demo world's digest does not change. Order ids start far above the world's own (they never collide).
"""

from __future__ import annotations

import threading
import time
from decimal import ROUND_FLOOR, Decimal

from sandbox import books
from sandbox.matching import EngineOrder, Level, MatchingEngine, OrderRefused
from sandbox.world import VENUES, Market, World

FIRST_ORDER_ID = 90_000_000_000  # per venue, + 1,000,000,000 × the venue's place in VENUES
_desks: dict[int, Desk] = {}
_desks_lock = threading.Lock()


class Desk:
    def __init__(self, world: World) -> None:
        self.world = world
        self.depth = Decimal(1)
        self.lock = threading.Lock()  # one order at a time per world: an engine is not thread-safe
        self.engines = {venue: MatchingEngine(venue, world.balance, self.book,
                                              FIRST_ORDER_ID + i * 1_000_000_000)
                        for i, venue in enumerate(VENUES)}
        self.trade_ids: dict[tuple[str, int], list[int]] = {}  # (venue, order id) → the world's trade ids

    def book(self, market: Market) -> tuple[list[Level], list[Level]]:
        # The depth endpoints' book, every level they may show: one book source for depth and matching.
        bids, asks = books.book(self.world, market, books.MAX_LEVELS)
        if self.depth == 1:
            return bids, asks

        def thin(levels: list[Level]) -> list[Level]:
            return [Level(lv.price, (lv.qty * self.depth / market.step).to_integral_value(ROUND_FLOOR) * market.step)
                    for lv in levels]
        return thin(bids), thin(asks)

    def place(self, account_id: str, market: Market, side: str, type_: str, amount: Decimal, price: Decimal | None,
              client_order_id: str) -> EngineOrder:
        """Place (OrderRefused as the engine says) and book what filled."""
        with self.lock:
            order = self.engines[market.venue].place(account_id, market, side, type_, amount, price, client_order_id,
                                                     _now_ms())
            self._book(order)
            return order

    def cross(self, market: Market, price: Decimal) -> list[EngineOrder]:
        """The market traded at `price` (a test moves it): resting orders it reaches fill, as makers."""
        with self.lock:
            filled = [order for order, _fill in self.engines[market.venue].cross(market, price, _now_ms())]
            for order in filled:
                self._book(order)
            return filled

    def _book(self, order: EngineOrder) -> None:
        booked = self.trade_ids.setdefault((order.market.venue, order.id), [])
        for fill in order.fills[len(booked):]:
            trade = self.world.book_fill(order.account_id, order.market, order.side == "buy", fill.price, fill.qty,
                                         fill.fee, fill.fee_asset, order.id, fill.is_maker, fill.time_ms)
            booked.append(trade.id)

    def find(self, venue: str, account_id: str, order_id: int | None, client_order_id: str | None) -> EngineOrder:
        """The account's order by the venue's id or the client's (OrderRefused 'unknown_order' when none)."""
        engine = self.engines[venue]
        with self.lock:
            if client_order_id is not None:
                return engine.by_client_id(account_id, client_order_id)
            order = engine.orders.get(order_id or -1)
            if order is None or order.account_id != account_id:
                raise OrderRefused("unknown_order", f"order {order_id} does not exist")
            return order

    def orders_of(self, venue: str, account_id: str, symbol: str | None = None) -> list[EngineOrder]:
        """The account's orders on `venue` (of one market when `symbol` is given), in the order they were placed; a
        copy taken under the lock, so a dialect can list it while another request places an order."""
        with self.lock:
            return [o for o in self.engines[venue].orders.values()
                    if o.account_id == account_id and (symbol is None or o.market.symbol == symbol)]

    def cancel(self, venue: str, account_id: str, order_id: int) -> EngineOrder:
        with self.lock:
            return self.engines[venue].cancel(account_id, order_id)


def desk(world: World) -> Desk:
    with _desks_lock:
        found = _desks.get(id(world))
        if found is None or found.world is not world:
            found = _desks[id(world)] = Desk(world)
        return found


def _now_ms() -> int:
    return int(time.time() * 1000)
