"""Execution routing against an independent brute force over every split, the naive home-venue plan, the venues'
steps and balances; arbitrage detection by hand and against a brute force over sizes."""

import itertools
import random
from decimal import Decimal as D

import pytest

from pipelines.domain.arbitrage import VenueQuote, opportunities, pair_opportunity
from pipelines.domain.routing import Level, VenueBook, naive, route


def _cost_through(levels: list[tuple[D, D]], qty: D) -> D | None:
    """Independent pricing of `qty` through a book (None when the book is too thin)."""
    paid, left = D(0), qty
    for price, amount in levels:
        take = min(amount, left)
        paid += take * price
        left -= take
    return None if left > 0 else paid


def _brute_force_buy(books: list[VenueBook], amount: D, unit: D) -> D:
    """The cheapest all-in cost over every split of `amount` on a grid of `unit` (fees, balances, fixed costs)."""
    n = int(amount / unit)
    best: D | None = None
    for split in itertools.product(range(n + 1), repeat=len(books)):
        if sum(split) != n:
            continue
        total = D(0)
        for book, k in zip(books, split, strict=True):
            if k == 0:
                continue
            paid = _cost_through([(lvl.price, lvl.amount) for lvl in book.levels], k * unit)
            if paid is None:
                break
            spend = paid * (1 + book.taker_fee)
            if book.balance is not None and spend > book.balance:
                break
            total += spend + book.transfer_cost
        else:
            best = total if best is None else min(best, total)
    assert best is not None
    return best


def _random_books(rng: random.Random, unit: D) -> list[VenueBook]:
    books = []
    for venue in ("binance", "kraken", "coinbase"):
        price = D(100) + D(rng.randint(-300, 300)) / 100
        levels = []
        for _ in range(rng.randint(1, 4)):
            levels.append(Level(price, unit * rng.randint(1, 6)))
            price += D(rng.randint(1, 150)) / 100
        books.append(VenueBook(venue, tuple(levels), taker_fee=D(rng.choice(["0.001", "0.0026", "0.006"])),
                               amount_step=unit, balance=rng.choice([None, D(rng.randint(200, 2000))]),
                               transfer_cost=D(0) if venue == "binance" else D(rng.randint(0, 300)) / 100))
    return books


@pytest.mark.parametrize("seed", range(40))
def test_the_route_costs_what_the_best_split_costs_and_never_more_than_home(seed: int) -> None:
    rng = random.Random(seed)
    unit = D("0.5")
    books = _random_books(rng, unit)
    amount = unit * rng.randint(1, 12)
    best = route(books, amount, "buy")
    home = naive(books, "binance", amount, "buy")
    if best.filled == amount:
        assert best.all_in == _brute_force_buy(books, amount, unit)
    # Never worse than the home venue: it fills at least as much, and as much costs no more.
    assert best.filled >= home.filled
    if best.filled == home.filled:
        assert best.all_in <= home.all_in


def test_a_deep_cheap_venue_takes_the_order_until_its_price_impact_passes_the_next_venue() -> None:
    a = VenueBook("a", (Level(D("100"), D("1")), Level(D("103"), D("10"))), taker_fee=D("0.001"))
    b = VenueBook("b", (Level(D("101"), D("10")),), taker_fee=D("0.001"))
    r = route([a, b], D("3"), "buy")
    assert {s.venue: s.amount for s in r.slices} == {"a": D("1"), "b": D("2")}
    assert r.all_in == (D("100") + 2 * D("101")) * D("1.001")
    assert r.cost_bps(D("100")) == (r.all_in - D("300")) / D("300") * 10_000


def test_a_fixed_transfer_cost_keeps_a_small_order_on_one_venue_and_a_big_one_pays_it() -> None:
    a = VenueBook("a", (Level(D("100"), D("1")), Level(D("100.5"), D("11"))))
    b = VenueBook("b", (Level(D("100"), D("10")),), transfer_cost=D("4"))
    small = route([a, b], D("2"), "buy")  # b saves 0.5 on one unit, moving there costs 4
    assert [s.venue for s in small.slices] == ["a"] and small.all_in == D("200.5")
    big = route([a, b], D("12"), "buy")  # b saves 0.5 on ten units = 5 > 4
    assert {s.venue: s.amount for s in big.slices} == {"a": D("2"), "b": D("10")}
    assert big.all_in == D("100") + D("100.5") + D("1000") + D("4")


def test_sells_take_the_best_bids_net_of_fees_and_respect_the_free_balance() -> None:
    a = VenueBook("a", (Level(D("100"), D("5")),), taker_fee=D("0.006"), balance=D("1"))
    b = VenueBook("b", (Level(D("99.8"), D("5")),), taker_fee=D("0.001"))
    r = route([a, b], D("3"), "sell")
    # 100 × 0.994 = 99.4 < 99.8 × 0.999 = 99.7002: b first, all of it.
    assert {s.venue: s.amount for s in r.slices} == {"b": D("3")}
    thin = VenueBook("b", (Level(D("99.8"), D("2")),), taker_fee=D("0.001"))
    r2 = route([a, thin], D("3"), "sell")
    assert {s.venue: s.amount for s in r2.slices} == {"b": D("2"), "a": D("1")}  # a's balance caps it at 1


def test_steps_round_each_slice_down_and_the_remainder_is_reported() -> None:
    a = VenueBook("a", (Level(D("100"), D("10")),), amount_step=D("0.01"))
    r = route([a], D("1.2345"), "buy")
    assert r.filled == D("1.23") and r.unfilled == D("0.0045")


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="side must be"):
        route([], D("1"), "hold")
    with pytest.raises(ValueError, match="no book for the home venue x"):
        naive([], "x", D("1"), "buy")


def test_an_arbitrage_is_sized_where_the_marginal_edge_ends_and_pays_its_transfer_once() -> None:
    buy = VenueQuote("a", bids=(Level(D("99"), D("5")),), asks=(Level(D("100"), D("1")), Level(D("100.4"), D("2"))),
                     taker_fee=D("0.001"))
    sell = VenueQuote("b", bids=(Level(D("101"), D("1.5")), Level(D("100.5"), D("5"))), asks=(Level(D("102"), D("5")),),
                      taker_fee=D("0.001"))
    opp = pair_opportunity(buy, sell, transfer_cost=D("0.2"))
    assert opp is not None
    # 1 @100 → 101, 0.5 @100.4 → 101; then 100.4 × 1.001 = 100.5004 vs 100.5 × 0.999 = 100.3995: stop.
    assert opp.size == D("1.5")
    assert opp.buy_cost == (D("100") + D("0.5") * D("100.4")) * D("1.001")
    assert opp.sell_proceeds == D("1.5") * D("101") * D("0.999")
    assert opp.net_profit == opp.sell_proceeds - opp.buy_cost - D("0.2")
    assert pair_opportunity(buy, sell, transfer_cost=D("2")) is None  # the move eats the edge
    assert pair_opportunity(sell, buy) is None  # the other way round never pays


@pytest.mark.parametrize("seed", range(30))
def test_arbitrage_size_is_the_most_profitable_size(seed: int) -> None:
    rng = random.Random(seed)
    unit = D("0.25")

    def side(start: D, direction: int) -> tuple[Level, ...]:
        out, price = [], start
        for _ in range(rng.randint(1, 4)):
            out.append(Level(price, unit * rng.randint(1, 5)))
            price += direction * D(rng.randint(1, 80)) / 100
        return tuple(out)

    a = VenueQuote("a", bids=side(D(99), -1), asks=side(D(100), 1), taker_fee=D("0.001"))
    b = VenueQuote("b", bids=side(D(100) + D(rng.randint(-50, 150)) / 100, -1), asks=side(D(103), 1),
                   taker_fee=D("0.001"))
    opp = pair_opportunity(a, b)
    sizes = [unit * k for k in range(1, 41)]
    profits = []
    for size in sizes:
        cost = _cost_through([(lvl.price, lvl.amount) for lvl in a.asks], size)
        gain = _cost_through([(lvl.price, lvl.amount) for lvl in b.bids], size)
        if cost is None or gain is None:
            break
        profits.append(gain * D("0.999") - cost * D("1.001"))
    best = max(profits, default=D(0))
    if best <= 0:
        assert opp is None
    else:
        assert opp is not None and opp.net_profit == best
    assert [o.buy_venue for o in opportunities([a, b])] == (["a"] if opp else [])
