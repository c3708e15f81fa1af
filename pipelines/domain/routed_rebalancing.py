"""Routing in the rebalancing proposals (issue 18 §2): a portfolio's trade in an asset split across the venues where
it has accounts with the market, for the least all-in cost through their order books.

`rebalancing.propose` plans each asset on the accounts holding the most of it (sells) or the most cash (buys), priced
at the tickers: the naive plan. When two venues or more could take the trade, the same total amount is given to
`routing.route` over those venues' books (the side it takes, each venue's taker fee, amount step and minimum, each
venue's balance: the free coin of its accounts for a sale, their free cash for a purchase), and its split replaces
the naive orders only when it costs less all-in per unit (a buy pays less, a sale receives more) on the same books,
filling as much but for what rounding each venue's share to its step leaves (under one step). So a routed proposal
is never worse than the naive one; with one venue nothing changes.

A venue's slice goes to its accounts, most balance first, each order on the venue's amount step and limited at the
deepest level the slice reaches (on the price step), so that it fills through the levels it was priced on. Its
expected cost is that walk: the taker fee plus what the walk pays (or gives up) against the venue's mid. A slice
that would leave an order under the venue's or the portfolio's minimum keeps the naive plan for that asset.

Coins and cash stay on their accounts (no transfer cost: each account trades what it holds). Purchases are routed
after the sales, on the cash each account has then (its free cash, what its sales bring, less the purchases already
planned), one asset at a time in the proposal's order.

Pure: no I/O, no clock. Decimals throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from pipelines.domain.rebalancing import Holding, Market, Order, Proposal, Targets, step_down, step_up, too_small
from pipelines.domain.routing import Level, Route, VenueBook, priced, route

ZERO = Decimal(0)
CAP_ATTEMPTS = 6  # re-routes after capping a venue whose limit buy would lock more cash than it has


@dataclass(frozen=True)
class Book:
    """One venue's order book of a market, best first on each side."""
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def mid(self) -> Decimal | None:
        return (self.bids[0].price + self.asks[0].price) / 2 if self.bids and self.asks else None


@dataclass(frozen=True)
class RoutedOrder:
    """An order of the proposal with what routing knows of it: its expected all-in cost through the book (fee plus
    impact against the venue's mid) and whether it comes from a routed split."""
    order: Order
    expected_cost: Decimal
    routed: bool


@dataclass(frozen=True)
class RoutingNote:
    asset: str
    side: str
    venues: tuple[str, ...]
    naive_unit: Decimal  # all-in price per unit of the naive plan through the same books (fees included)
    routed_unit: Decimal  # the router's
    amount: Decimal  # what the router's split fills
    taken: bool  # the split replaced the naive orders

    @property
    def saving(self) -> Decimal:
        """Cash kept by routing on the amount traded, in the cash asset (0 when the naive plan was kept)."""
        if not self.taken:
            return ZERO
        per_unit = self.naive_unit - self.routed_unit if self.side == "buy" else self.routed_unit - self.naive_unit
        return per_unit * self.amount


def routable(targets: Targets, holdings: Sequence[Holding], markets: Sequence[Market], asset: str,
             side: str) -> list[Market]:
    """The markets asset/cash on the allowed venues where an account of the portfolio holds what the side needs:
    the coin for a sale, the cash for a purchase. Routing is worth a book read only when there are two or more."""
    allowed = set(targets.venues)
    need = asset if side == "sell" else targets.cash_asset
    venues = {h.venue for h in holdings if h.asset == need and h.free > 0 and (not allowed or h.venue in allowed)}
    return [m for m in markets if m.base == asset and m.quote == targets.cash_asset and m.venue in venues]


def _venue_book(market: Market, book: Book, side: str, balance: Decimal) -> VenueBook:
    levels = book.asks if side == "buy" else book.bids
    return VenueBook(market.venue, levels, market.taker_fee, market.amount_step, market.min_amount, balance)


def _deepest(levels: Sequence[Level], amount: Decimal) -> Decimal:
    """The price of the last level `amount` reaches."""
    left = amount
    price = levels[0].price
    for level in levels:
        price = level.price
        left -= level.amount
        if left <= 0:
            break
    return price


def _walk_cost(market: Market, book: Book, side: str, amount: Decimal, notional: Decimal) -> Decimal:
    """Fee plus what the walk pays above (buy) or gives up below (sell) the venue's mid."""
    mid = book.mid or market.mid
    impact = notional - amount * mid if side == "buy" else amount * mid - notional
    return notional * market.taker_fee + impact


def _top_up(books: Sequence[VenueBook], routed: Route, amount: Decimal, side: str) -> Route:
    """Steps lost to rounding each venue's share down: put what is left on the venue it fits cheapest on."""
    left = amount - routed.filled
    if left <= 0 or not routed.slices:
        return routed
    best: Route | None = None
    by_venue = {s.venue: s.amount for s in routed.slices}
    for b in books:
        if b.venue not in by_venue or (b.amount_step > 0 and left % b.amount_step):
            continue
        split = dict(by_venue)
        split[b.venue] += left
        candidate = priced(books, split, side)
        if candidate.filled == amount and (best is None or (candidate.all_in < best.all_in if side == "buy"
                                                             else candidate.all_in > best.all_in)):
            best = candidate
    return best or routed


def _unit(r: Route) -> Decimal:
    return r.all_in / r.filled


def _better(routed: Route, plain: Route, tolerance: Decimal) -> bool:
    """Cheaper per unit (a buy) or richer per unit (a sale), filling as much but for the steps the split rounds
    off (less than one step of the coarsest venue)."""
    if not routed.filled or routed.filled < plain.filled - tolerance:
        return False
    return _unit(routed) < _unit(plain) if routed.side == "buy" else _unit(routed) > _unit(plain)


def _split(market: Market, accounts: Sequence[tuple[str, Decimal]], amount: Decimal, side: str,
           limit: Decimal) -> list[tuple[str, Decimal]] | None:
    """The venue's slice over its accounts (most balance first), each part on the step; None if it does not fit."""
    out = []
    left = amount
    for account, balance in accounts:
        if left <= 0:
            break
        capacity = balance if side == "sell" else balance / (limit * (1 + market.taker_fee))
        take = step_down(min(left, capacity), market.amount_step)
        if take > 0:
            out.append((account, take))
            left -= take
    return out if left == 0 else None


def route_asset(targets: Targets, asset: str, side: str, naive_orders: Sequence[Order], markets: Sequence[Market],
                books: Mapping[tuple[str, str], Book], balances: Mapping[str, Mapping[str, Decimal]]
                ) -> tuple[list[RoutedOrder], RoutingNote | None]:
    """The orders of one asset and side: the router's split when it beats the naive orders on the same books, else
    the naive orders. `balances`: venue → account → what it may use (the coin for a sale, the cash for a buy)."""
    naive_kept = [RoutedOrder(o, o.fee + o.spread_cost, False) for o in naive_orders]
    usable = [m for m in markets if m.venue in balances and (m.venue, m.symbol) in books
              and (book := books[(m.venue, m.symbol)]) and (book.asks if side == "buy" else book.bids)]
    if len({m.venue for m in usable}) < 2 or not naive_orders:
        return naive_kept, None
    by_venue = {m.venue: m for m in usable}
    if any(o.venue not in by_venue for o in naive_orders):
        return naive_kept, None  # a naive order on a venue without a book: nothing to compare it with
    caps = {venue: sum(balances[venue].values(), ZERO) for venue in by_venue}
    vbooks = [_venue_book(m, books[(m.venue, m.symbol)], side, caps[m.venue]) for m in by_venue.values()]
    amount = sum((o.amount for o in naive_orders), ZERO)
    plain_split: dict[str, Decimal] = {}
    for o in naive_orders:
        plain_split[o.venue] = plain_split.get(o.venue, ZERO) + o.amount
    plain = priced(vbooks, plain_split, side)
    # What the naive orders really fill through the books (a buy's cash may run out before its ticker-sized amount):
    # both plans are compared on that amount.
    amount = min(amount, plain.filled)
    if amount <= 0:
        return naive_kept, None
    note: RoutingNote | None = None
    for _attempt in range(CAP_ATTEMPTS):
        vbooks = [_venue_book(m, books[(m.venue, m.symbol)], side, caps[m.venue]) for m in by_venue.values()]
        routed = _top_up(vbooks, route(vbooks, amount, side), amount, side)
        if not routed.filled:
            return naive_kept, note
        note = RoutingNote(asset, side, tuple(sorted(by_venue)), _unit(plain), _unit(routed), routed.filled, False)
        if not _better(routed, plain, max(b.amount_step for b in vbooks)):
            return naive_kept, note
        orders, short = _orders(targets, routed, by_venue, books, balances, side)
        if short is None:
            return orders, replace(note, taken=True)
        if side == "sell" or short == "too small":
            return naive_kept, note
        # A limit buy locks amount × limit: the cash walked through cheaper levels does not cover it. Cap that
        # venue's cash to what its limit leaves room for and route again.
        s = next(x for x in routed.slices if x.venue == short)
        limit = _limit(by_venue[short], books[(short, by_venue[short].symbol)], side, s.amount)
        caps[short] = caps[short] * s.average_price / limit
    return naive_kept, note


def _limit(market: Market, book: Book, side: str, amount: Decimal) -> Decimal:
    deepest = _deepest(book.asks if side == "buy" else book.bids, amount)
    return step_up(deepest, market.price_step) if side == "buy" else step_down(deepest, market.price_step)


def _orders(targets: Targets, routed: Route, by_venue: Mapping[str, Market], books: Mapping[tuple[str, str], Book],
            balances: Mapping[str, Mapping[str, Decimal]], side: str) -> tuple[list[RoutedOrder], str | None]:
    """The routed slices as orders on the venues' accounts; (orders, None), or ([], the venue whose slice does not
    fit its accounts at its limit price) or ([], 'too small') when an order would be under a minimum."""
    orders: list[RoutedOrder] = []
    for s in routed.slices:
        market, book = by_venue[s.venue], books[(s.venue, by_venue[s.venue].symbol)]
        limit = _limit(market, book, side, s.amount)
        accounts = sorted(balances[s.venue].items(), key=lambda kv: (-kv[1], kv[0]))
        parts = _split(market, accounts, s.amount, side, limit)
        if parts is None:
            return [], s.venue
        if any(too_small(market, a, limit, targets.min_trade) for _, a in parts):
            return [], "too small"
        for account, part in parts:
            notional = s.notional * part / s.amount
            cost = _walk_cost(market, book, side, part, notional)
            order = Order(account, market.venue, market.symbol, side, part, limit, part * limit,
                          notional * market.taker_fee, cost - notional * market.taker_fee)
            orders.append(RoutedOrder(order, cost, True))
    return orders, None


def route_proposal(proposal: Proposal, targets: Targets, holdings: Sequence[Holding], markets: Sequence[Market],
                   books: Mapping[tuple[str, str], Book]) -> tuple[list[RoutedOrder], list[RoutingNote]]:
    """Every order of the proposal, routed where two venues or more have a book (see the module's docstring).
    `books`: (venue, market symbol) → its book; a market without one is not routed to."""
    allowed = set(targets.venues)
    market_of = {(m.venue, m.symbol): m for m in markets}
    venue_of = {h.account_id: h.venue for h in holdings}

    def grouped(side: str) -> dict[str, list[Order]]:
        out: dict[str, list[Order]] = {}
        for o in proposal.orders:
            if o.side == side:
                out.setdefault(market_of[(o.venue, o.symbol)].base, []).append(o)
        return out

    result: list[RoutedOrder] = []
    notes: list[RoutingNote] = []
    cash: dict[str, Decimal] = {}
    for h in holdings:
        if h.asset == targets.cash_asset and (not allowed or h.venue in allowed):
            cash[h.account_id] = cash.get(h.account_id, ZERO) + h.free
    for asset, naive_orders in grouped("sell").items():
        coin: dict[str, dict[str, Decimal]] = {}
        for h in holdings:
            if h.asset == asset and h.free > 0 and (not allowed or h.venue in allowed):
                coin.setdefault(h.venue, {})[h.account_id] = coin.get(h.venue, {}).get(h.account_id, ZERO) + h.free
        candidates = routable(targets, holdings, markets, asset, "sell")
        orders, note = route_asset(targets, asset, "sell", naive_orders, candidates, books, coin)
        result += orders
        notes += [note] if note else []
        for r in orders:
            cash[r.order.account_id] = cash.get(r.order.account_id, ZERO) + r.order.notional - r.order.fee
            venue_of.setdefault(r.order.account_id, r.order.venue)
    for asset, naive_orders in grouped("buy").items():
        spendable: dict[str, dict[str, Decimal]] = {}
        for account, free in cash.items():
            if free > 0 and account in venue_of:
                spendable.setdefault(venue_of[account], {})[account] = free
        candidates = [m for m in markets if m.base == asset and m.quote == targets.cash_asset
                      and m.venue in spendable]
        orders, note = route_asset(targets, asset, "buy", naive_orders, candidates, books, spendable)
        result += orders
        notes += [note] if note else []
        for r in orders:
            cash[r.order.account_id] = cash.get(r.order.account_id, ZERO) - r.order.notional - r.order.fee
    return result, notes
