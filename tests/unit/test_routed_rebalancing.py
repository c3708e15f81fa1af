"""Routing in the proposals (domain/routed_rebalancing.py): the router's split replaces the naive orders only when
it is cheaper on the same books; never worse; one venue changes nothing; orders on the venue's steps, within each
account's balance, limited at the deepest level they take."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipelines.domain.rebalancing import Band, Holding, Market, Order, Targets, propose
from pipelines.domain.routed_rebalancing import Book, RoutedOrder, route_proposal
from pipelines.domain.routing import Level, VenueBook, priced

D = Decimal
PRICE = D("100")


def _book(mid: Decimal, half_spread: Decimal, qty: Decimal, levels: int = 30) -> Book:
    gap = D("0.001")
    return Book(tuple(Level((mid * (1 - half_spread - gap * i)).quantize(D("0.01")), qty) for i in range(levels)),
                tuple(Level((mid * (1 + half_spread + gap * i)).quantize(D("0.01")), qty) for i in range(levels)))


def _market(venue: str, book: Book, fee: str, step: str = "0.001") -> Market:
    return Market(venue, "SOL/USDT", "SOL", "USDT", book.bids[0].price, book.asks[0].price, D(step), D("0.01"),
                  D(0), D("5"), D(fee))


def _world(sol_a: str, sol_b: str, cash_a: str, cash_b: str, target: str,
           venues: tuple[str, ...] = ("va", "vb")) -> tuple[Targets, list[Holding], list[Market], dict]:
    books = {("va", "SOL/USDT"): _book(PRICE, D("0.0005"), D("20")),
             ("vb", "SOL/USDT"): _book(PRICE, D("0.001"), D("15"))}
    markets = [_market("va", books[("va", "SOL/USDT")], "0.001"),
               _market("vb", books[("vb", "SOL/USDT")], "0.002", "0.01")]
    holdings = [Holding("acc-a", "va", "SOL", D(sol_a), D(sol_a)), Holding("acc-a", "va", "USDT", D(cash_a), D(cash_a)),
                Holding("acc-b", "vb", "SOL", D(sol_b), D(sol_b)), Holding("acc-b", "vb", "USDT", D(cash_b), D(cash_b))]
    holdings = [h for h in holdings if h.venue in venues]
    targets = Targets("main", "USDT", (Band.around("SOL", D(target), D("0.05")),), D(0), venues)
    return targets, holdings, [m for m in markets if m.venue in venues], books


def _all_in(orders: list[Order], markets: list[Market], books: dict, side: str,
            holdings: list[Holding]) -> tuple[Decimal, Decimal]:
    """(filled, all-in) of these orders through the books, each venue within what its account holds (the cash for
    a buy, the coin for a sale), as the router prices a split."""
    split: dict[str, Decimal] = {}
    for o in orders:
        split[o.venue] = split.get(o.venue, D(0)) + o.amount
    need = "USDT" if side == "buy" else "SOL"
    held = {h.venue: h.free for h in holdings if h.asset == need}
    vbooks = [VenueBook(m.venue, books[(m.venue, m.symbol)].asks if side == "buy" else books[(m.venue, m.symbol)].bids,
                        m.taker_fee, m.amount_step, balance=held[m.venue]) for m in markets]
    route = priced(vbooks, split, side)
    return route.filled, route.all_in


@pytest.mark.parametrize(("cash_a", "cash_b"), [("3000", "3000"), ("5000", "20000"), ("20000", "60000"),
                                                 ("60000", "20000"), ("150000", "150000"), ("400000", "100")])
def test_a_buy_is_split_when_it_pays_and_never_costs_more(cash_a: str, cash_b: str) -> None:
    targets, holdings, markets, books = _world("0", "0", cash_a, cash_b, "0.9")
    proposal = propose(targets, holdings, markets, {"SOL": PRICE})
    routed, notes = route_proposal(proposal, targets, holdings, markets, books)
    orders = [r.order for r in routed]
    naive_filled, naive_cost = _all_in(proposal.orders, markets, books, "buy", holdings)
    filled, cost = _all_in(orders, markets, books, "buy", holdings)
    # As much (but for less than a step the split rounds off), never dearer per unit
    assert filled > naive_filled - D("0.01") and cost / filled <= naive_cost / naive_filled
    assert len(notes) == 1 and notes[0].saving >= 0
    if notes[0].taken:
        assert cost / filled < naive_cost / naive_filled and notes[0].saving > 0
    cash_of = {h.account_id: h.free for h in holdings if h.asset == "USDT"}
    for o in orders:
        step = next(m.amount_step for m in markets if m.venue == o.venue)
        assert o.amount % step == 0 and o.limit_price % D("0.01") == 0
        cash_of[o.account_id] -= o.amount * o.limit_price + o.fee
    assert all(v >= 0 for v in cash_of.values())


def test_a_large_buy_takes_both_books_and_each_order_is_limited_at_its_deepest_level() -> None:
    # 50,000 USDT of SOL: the naive plan spends it all on acc-a (the most cash), 25 levels deep in va's book
    targets, holdings, markets, books = _world("0", "0", "50000", "50000", "0.5")
    proposal = propose(targets, holdings, markets, {"SOL": PRICE})
    assert {o.venue for o in proposal.orders} == {"va"}
    routed, notes = route_proposal(proposal, targets, holdings, markets, books)
    assert notes[0].taken and all(r.routed for r in routed)
    assert {r.order.venue for r in routed} == {"va", "vb"}
    for r in routed:
        asks = books[(r.order.venue, "SOL/USDT")].asks
        reached, left = asks[0].price, r.order.amount
        for level in asks:
            reached, left = level.price, left - level.amount
            if left <= 0:
                break
        assert r.order.limit_price == reached
        assert r.expected_cost == r.order.fee + r.order.spread_cost > 0


def test_sales_are_routed_from_each_venues_own_coins() -> None:
    targets, holdings, markets, books = _world("500", "100", "0", "0", "0.5")  # 300 SOL to sell: naive all on acc-a
    proposal = propose(targets, holdings, markets, {"SOL": PRICE})
    routed, notes = route_proposal(proposal, targets, holdings, markets, books)
    orders = [r.order for r in routed]
    naive_filled, naive_got = _all_in(proposal.orders, markets, books, "sell", holdings)
    filled, got = _all_in(orders, markets, books, "sell", holdings)
    assert notes[0].taken and filled > naive_filled - D("0.01") and got / filled > naive_got / naive_filled
    held = {h.account_id: h.free for h in holdings if h.asset == "SOL"}
    for o in orders:
        assert o.side == "sell" and o.amount <= held[o.account_id]
        held[o.account_id] -= o.amount


def test_one_venue_changes_nothing() -> None:
    targets, holdings, markets, books = _world("0", "0", "400000", "400000", "0.9", venues=("va",))
    proposal = propose(targets, holdings, markets, {"SOL": PRICE})
    routed, notes = route_proposal(proposal, targets, holdings, markets, books)
    assert notes == [] and [r.order for r in routed] == proposal.orders
    assert routed == [RoutedOrder(o, o.fee + o.spread_cost, False) for o in proposal.orders]


def test_a_venue_without_a_book_is_not_routed_to() -> None:
    targets, holdings, markets, books = _world("0", "0", "400000", "400000", "0.9")
    proposal = propose(targets, holdings, markets, {"SOL": PRICE})
    only_a = {k: v for k, v in books.items() if k[0] == "va"}
    routed, notes = route_proposal(proposal, targets, holdings, markets, only_a)
    assert notes == []
    assert [r.order for r in routed] == proposal.orders and not any(r.routed for r in routed)
