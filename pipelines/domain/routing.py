"""Execution routing: split one order across venues' order books for the least all-in cost.

All-in cost of a buy = what is paid through each book (price impact included) + each venue's taker fee + a
fixed cost per venue used when the coins or cash must first move there (a withdrawal fee and network cost,
priced by the caller in the quote asset). For a sell it is the same with proceeds, so the router maximises what
is received.

Given which venues are used, walking all their levels cheapest-first (price × (1 + fee) for buys,
price × (1 − fee) for sells) and stopping at each venue's balance is optimal: a cheaper unit never costs more
of a venue's balance than a dearer one on the same venue. The fixed transfer costs are what make the choice of
venues combinatorial, so every subset of venues is tried (five venues: 31 subsets) and the best kept. The
"everything on the home venue" plan is one of those subsets, so the router is never worse than it.

Quantities are then rounded down to each venue's amount step and priced again on its own book, so the figures
are those the venues would charge; what the steps leave unfilled is reported, never hidden.

Pure: no I/O. Decimals throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from itertools import combinations

ZERO = Decimal(0)


@dataclass(frozen=True)
class Level:
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class VenueBook:
    """One venue's side of the book the order would take (asks for a buy, bids for a sell), best first."""
    venue: str
    levels: tuple[Level, ...]
    taker_fee: Decimal = ZERO
    amount_step: Decimal = ZERO
    min_amount: Decimal = ZERO
    balance: Decimal | None = None  # buy: quote that may be spent (fees included); sell: base that may be sold
    transfer_cost: Decimal = ZERO  # quote asset: moving the coins/cash there first, if used at all


@dataclass(frozen=True)
class Slice:
    venue: str
    amount: Decimal
    notional: Decimal  # Σ price × amount through the book
    fee: Decimal
    transfer_cost: Decimal

    @property
    def average_price(self) -> Decimal:
        return self.notional / self.amount if self.amount else ZERO


@dataclass(frozen=True)
class Route:
    side: str
    requested: Decimal
    slices: tuple[Slice, ...] = field(default_factory=tuple)

    @property
    def filled(self) -> Decimal:
        return sum((s.amount for s in self.slices), ZERO)

    @property
    def unfilled(self) -> Decimal:
        return self.requested - self.filled

    @property
    def all_in(self) -> Decimal:
        """A buy: everything paid. A sell: everything received (fees and transfer costs taken off)."""
        notional = sum((s.notional for s in self.slices), ZERO)
        costs = sum((s.fee + s.transfer_cost for s in self.slices), ZERO)
        return notional + costs if self.side == "buy" else notional - costs

    def cost_bps(self, reference_price: Decimal) -> Decimal:
        """What the route costs against filling everything at `reference_price` with no fee, in basis points."""
        if not self.filled:
            return ZERO
        ideal = self.filled * reference_price
        lost = self.all_in - ideal if self.side == "buy" else ideal - self.all_in
        return lost / ideal * 10_000


def _step_down(value: Decimal, step: Decimal) -> Decimal:
    return value if step <= 0 else (value / step).to_integral_value(ROUND_FLOOR) * step


def walk(book: VenueBook, amount: Decimal, side: str) -> tuple[Decimal, Decimal]:
    """(amount that fills, notional) taking `amount` through the book, within its depth and balance."""
    filled, notional = ZERO, ZERO
    for level in book.levels:
        take = min(level.amount, amount - filled)
        if side == "buy" and book.balance is not None:
            spend_left = book.balance - notional * (1 + book.taker_fee)
            take = min(take, spend_left / (level.price * (1 + book.taker_fee)))
        if side == "sell" and book.balance is not None:
            take = min(take, book.balance - filled)
        if take <= 0:
            break
        filled += take
        notional += take * level.price
    return filled, notional


def _slice(book: VenueBook, amount: Decimal, side: str) -> Slice | None:
    amount = _step_down(amount, book.amount_step)
    if amount <= 0 or amount < book.min_amount:
        return None
    filled, notional = walk(book, amount, side)
    filled = _step_down(filled, book.amount_step)  # the balance may cut inside a step
    if filled <= 0 or filled < book.min_amount:
        return None
    if filled != amount:
        filled, notional = walk(book, filled, side)
    return Slice(book.venue, filled, notional, notional * book.taker_fee, book.transfer_cost)


def _greedy(books: Sequence[VenueBook], amount: Decimal, side: str) -> Route:
    """Best levels first across the given venues, each venue within its balance."""
    sign = 1 if side == "buy" else -1
    levels = sorted(((lvl.price * (1 + sign * b.taker_fee), i, lvl) for i, b in enumerate(books) for lvl in b.levels),
                    key=lambda t: (sign * t[0], t[1]))
    taken = [ZERO] * len(books)
    spent = [ZERO] * len(books)
    left = amount
    for _effective, i, lvl in levels:
        if left <= 0:
            break
        book = books[i]
        take = min(lvl.amount, left)
        if book.balance is not None:
            if side == "buy":
                take = min(take, (book.balance - spent[i]) / (lvl.price * (1 + book.taker_fee)))
            else:
                take = min(take, book.balance - taken[i])
        if take <= 0:
            continue
        taken[i] += take
        spent[i] += take * lvl.price * (1 + book.taker_fee)
        left -= take
    slices = [s for i, b in enumerate(books) if taken[i] > 0 and (s := _slice(b, taken[i], side)) is not None]
    return Route(side, amount, tuple(slices))


def _better(a: Route, b: Route) -> bool:
    """More filled wins; at the same fill, the cheaper buy / the richer sell."""
    if a.filled != b.filled:
        return a.filled > b.filled
    return a.all_in < b.all_in if a.side == "buy" else a.all_in > b.all_in


def route(books: Sequence[VenueBook], amount: Decimal, side: str) -> Route:
    """The least-cost split of `amount` over `books` (see the module's docstring)."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    best = Route(side, amount)
    for n in range(1, len(books) + 1):
        for subset in combinations(books, n):
            candidate = _greedy(subset, amount, side)
            if _better(candidate, best):
                best = candidate
    return best


def naive(books: Sequence[VenueBook], home: str, amount: Decimal, side: str) -> Route:
    """Everything on the account's home venue: the plan routing is measured against."""
    home_books = [b for b in books if b.venue == home]
    if not home_books:
        raise ValueError(f"no book for the home venue {home}")
    return _greedy(home_books, amount, side)


def priced(books: Sequence[VenueBook], amounts: Mapping[str, Decimal], side: str) -> Route:
    """A given split (venue → amount) priced through the same books as `route` prices its own, so that a plan made
    elsewhere (a proposal's home-venue orders) and the router's are compared on equal terms."""
    by_venue = {b.venue: b for b in books}
    slices = [s for venue, amount in amounts.items() if amount > 0
              and (s := _slice(by_venue[venue], amount, side)) is not None]
    return Route(side, sum(amounts.values(), ZERO), tuple(slices))
