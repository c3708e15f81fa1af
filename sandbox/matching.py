"""Order books and a matching engine for the sandbox's venues (issue 18: the trading loop runs on the demo world).

Books are deterministic from the world's price: levels on the market's tick around the venue's mid, a spread and a
depth per venue (so splitting an order across venues can pay, as on real markets). The engine behaves as a venue
does where it matters to a client:
  - it refuses what the venue refuses, with the venue's reason: an amount off the market's step or a price off
    its tick (precision), a notional under the minimum, more than the account has free (insufficient balance),
    a client order id already used by the account (duplicate: the client looks the order up instead of placing
    a second one — the idempotent retry);
  - a market order takes the book until filled or the book ends (what is left expires); a limit order takes what
    its price reaches and rests for the rest, its funds locked; `cross` fills resting orders when the price comes
    to them (maker), `cancel` releases what is still locked, keeping the part already filled;
  - fees follow the venue's rule (world.FEE_RULES: in the asset received, or in the quote).
Fills are returned, never booked here: the caller books them into the world as trades, so they come back to
Coinbook through the venue's normal trade history, exactly once.

Pure: no I/O, no clock (the caller passes the time). Decimals throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sandbox.world import FEE_RULES, SATOSHI, Market

ZERO = Decimal(0)
# Per venue: half the spread and the quote value at the top level (deeper levels hold more), as the venues'
# books differ in depth: the routing benchmark needs books where splitting can pay.
BOOK_SHAPE: dict[str, tuple[Decimal, Decimal]] = {
    "binance": (Decimal("0.00005"), Decimal("60000")), "coinbase": (Decimal("0.0001"), Decimal("30000")),
    "kraken": (Decimal("0.00015"), Decimal("20000")), "bitfinex": (Decimal("0.0002"), Decimal("15000")),
    "htx": (Decimal("0.00025"), Decimal("10000")),
}
LEVEL_GAP = Decimal("0.0002")  # each level 2 bps further from the mid


@dataclass(frozen=True)
class Level:
    price: Decimal
    qty: Decimal


def order_book(market: Market, mid: Decimal, levels: int = 25) -> tuple[list[Level], list[Level]]:
    """(bids best first, asks best first) around `mid` on the market's tick and step."""
    half_spread, top_value = BOOK_SHAPE[market.venue]
    bids, asks = [], []
    for i in range(levels):
        offset = half_spread + LEVEL_GAP * i
        bid = (mid * (1 - offset) / market.tick).to_integral_value(ROUND_FLOOR) * market.tick
        ask = (mid * (1 + offset) / market.tick).to_integral_value(ROUND_CEILING) * market.tick
        qty = (top_value * (1 + Decimal(i) / 2) / mid / market.step).to_integral_value(ROUND_FLOOR) * market.step
        if qty > 0 and bid > 0:
            bids.append(Level(bid, qty))
            asks.append(Level(ask, qty))
    return bids, asks


class OrderRefused(Exception):
    """What the venue answers instead of accepting the order; `reason` is one of REASONS."""

    REASONS = ("precision", "min_notional", "insufficient_balance", "duplicate", "unknown_order", "not_open",
               "no_liquidity")

    def __init__(self, reason: str, message: str, existing: EngineOrder | None = None) -> None:
        assert reason in self.REASONS
        super().__init__(message)
        self.reason, self.existing = reason, existing


@dataclass
class Fill:
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    time_ms: int


@dataclass
class EngineOrder:
    id: int
    client_order_id: str
    account_id: str
    market: Market
    side: str  # buy | sell
    type: str  # limit | market
    amount: Decimal
    price: Decimal | None
    time_ms: int
    status: str = "open"  # open | closed (filled) | canceled | expired (a market order the book could not fill)
    fills: list[Fill] = field(default_factory=list)
    locked: Decimal = ZERO  # what the resting part still holds of the account's quote (buy) or base (sell)

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    @property
    def cost(self) -> Decimal:
        return sum((f.qty * f.price for f in self.fills), ZERO)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


def _fee(market: Market, side: str, qty: Decimal, price: Decimal) -> tuple[Decimal, str]:
    rate, charged_in = FEE_RULES[market.venue]
    if charged_in == "received":
        base_fee = side == "buy"
        amount = qty if base_fee else qty * price
        return (amount * rate).quantize(SATOSHI), market.base if base_fee else market.quote
    return (qty * price * rate).quantize(SATOSHI), market.quote


class MatchingEngine:
    """One venue's engine. `free(account, asset)` is what the account holds (the world's balance); the engine
    keeps what its resting orders lock on top of that, and `book(market)` gives the current (bids, asks)."""

    def __init__(self, venue: str, free: Callable[[str, str], Decimal],
                 book: Callable[[Market], tuple[list[Level], list[Level]]], first_order_id: int = 1) -> None:
        self.venue, self._free, self._book = venue, free, book
        self.orders: dict[int, EngineOrder] = {}
        self._by_client: dict[tuple[str, str], int] = {}
        self._taken: dict[tuple[str, str, Decimal], Decimal] = {}  # liquidity already taken, per book level
        self._next_id = first_order_id

    def available(self, account_id: str, asset: str) -> Decimal:
        locked = sum((o.locked for o in self.orders.values() if o.account_id == account_id and o.status == "open"
                      and (o.market.quote if o.side == "buy" else o.market.base) == asset), ZERO)
        return self._free(account_id, asset) - locked

    def _levels(self, market: Market, side: str) -> list[Level]:
        bids, asks = self._book(market)
        levels = asks if side == "buy" else bids
        book_side = "ask" if side == "buy" else "bid"
        return [Level(lv.price, lv.qty - self._taken.get((market.symbol, book_side, lv.price), ZERO))
                for lv in levels]

    def _take(self, order: EngineOrder, limit: Decimal | None, time_ms: int) -> None:
        book_side = "ask" if order.side == "buy" else "bid"
        for level in self._levels(order.market, order.side):
            if order.remaining <= 0:
                break
            if limit is not None and (level.price > limit if order.side == "buy" else level.price < limit):
                break
            qty = min(level.qty, order.remaining)
            if qty <= 0:
                continue
            fee, fee_asset = _fee(order.market, order.side, qty, level.price)
            order.fills.append(Fill(level.price, qty, fee, fee_asset, False, time_ms))
            key = (order.market.symbol, book_side, level.price)
            self._taken[key] = self._taken.get(key, ZERO) + qty

    def place(self, account_id: str, market: Market, side: str, type_: str, amount: Decimal,
              price: Decimal | None, client_order_id: str, time_ms: int) -> EngineOrder:
        """Validate as the venue does, then match; returns the order (open, closed or expired)."""
        if (account_id, client_order_id) in self._by_client:
            existing = self.orders[self._by_client[(account_id, client_order_id)]]
            raise OrderRefused("duplicate", f"client order id {client_order_id} already used", existing)
        if amount <= 0 or amount % market.step:
            raise OrderRefused("precision", f"amount {amount} is not a multiple of the step {market.step}")
        if type_ == "limit" and (price is None or price <= 0 or price % market.tick):
            raise OrderRefused("precision", f"price {price} is not a multiple of the tick {market.tick}")
        levels = self._levels(market, side)
        if not any(lv.qty > 0 for lv in levels):
            raise OrderRefused("no_liquidity", f"no {('asks' if side == 'buy' else 'bids')} on {market.symbol}")
        reference = price if type_ == "limit" else self._walk_price(levels, amount)
        assert reference is not None
        if amount * reference < market.min_notional:
            raise OrderRefused("min_notional", f"notional {amount * reference} is below {market.min_notional}")
        rate, _ = FEE_RULES[market.venue]
        need_asset = market.quote if side == "buy" else market.base
        need = amount * reference * (1 + rate) if side == "buy" else amount
        have = self.available(account_id, need_asset)
        if need > have:
            raise OrderRefused("insufficient_balance", f"needs {need} {need_asset}, {have} free")
        order = EngineOrder(self._next_id, client_order_id, account_id, market, side, type_, amount, price, time_ms)
        self._next_id += 1
        self.orders[order.id] = order
        self._by_client[(account_id, client_order_id)] = order.id
        self._take(order, price if type_ == "limit" else None, time_ms)
        self._settle(order)
        return order

    @staticmethod
    def _walk_price(levels: list[Level], amount: Decimal) -> Decimal:
        """The average price `amount` would fill at (the worst level's price if the book is too thin)."""
        left, cost, last = amount, ZERO, ZERO
        for lv in levels:
            take = min(lv.qty, left)
            cost, left, last = cost + take * lv.price, left - take, lv.price
            if left <= 0:
                return cost / amount
        return last

    def _settle(self, order: EngineOrder) -> None:
        rate, _ = FEE_RULES[order.market.venue]
        if order.remaining <= 0:
            order.status, order.locked = "closed", ZERO
        elif order.type == "market":
            order.status, order.locked = "expired", ZERO  # what the book could not fill is not kept
        else:
            assert order.price is not None
            order.locked = order.remaining * order.price * (1 + rate) if order.side == "buy" else order.remaining

    def cross(self, market: Market, price: Decimal, time_ms: int) -> list[tuple[EngineOrder, Fill]]:
        """The market traded at `price`: resting limit orders it reaches fill whole, as makers."""
        out = []
        for order in self.orders.values():
            if order.market != market or order.status != "open":
                continue
            assert order.price is not None
            if (order.side == "buy" and price <= order.price) or (order.side == "sell" and price >= order.price):
                fee, fee_asset = _fee(market, order.side, order.remaining, order.price)
                fill = Fill(order.price, order.remaining, fee, fee_asset, True, time_ms)
                order.fills.append(fill)
                self._settle(order)
                out.append((order, fill))
        return out

    def cancel(self, account_id: str, order_id: int) -> EngineOrder:
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise OrderRefused("unknown_order", f"order {order_id} does not exist")
        if order.status != "open":
            raise OrderRefused("not_open", f"order {order_id} is {order.status}")
        order.status, order.locked = "canceled", ZERO
        return order

    def by_client_id(self, account_id: str, client_order_id: str) -> EngineOrder:
        order_id = self._by_client.get((account_id, client_order_id))
        if order_id is None:
            raise OrderRefused("unknown_order", f"no order with client id {client_order_id}")
        return self.orders[order_id]
