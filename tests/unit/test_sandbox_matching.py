"""The sandbox's order books and matching engine: what a venue accepts and refuses, partial fills, resting orders,
fees by the venue's rule, liquidity taken once."""

from decimal import Decimal as D

import pytest

from sandbox.matching import Level, MatchingEngine, OrderRefused, order_book
from sandbox.world import VENUE_MARKETS

BTC_BINANCE = VENUE_MARKETS["binance"][0]  # BTCUSDT, tick 0.01, step 0.00001, min notional 5
BTC_COINBASE = VENUE_MARKETS["coinbase"][0]  # BTC-USD, fee 0.6 % in the quote
MID = D("60000")


def engine(venue: str, balances: dict[tuple[str, str], D]) -> MatchingEngine:
    return MatchingEngine(venue, lambda acc, asset: balances.get((acc, asset), D(0)),
                          lambda m: order_book(m, MID))


def test_books_are_on_the_markets_tick_and_step_and_widen_away_from_the_mid() -> None:
    bids, asks = order_book(BTC_BINANCE, MID)
    assert bids[0].price < MID < asks[0].price
    assert all(lv.price % BTC_BINANCE.tick == 0 and lv.qty % BTC_BINANCE.step == 0 for lv in bids + asks)
    assert [lv.price for lv in asks] == sorted(lv.price for lv in asks)
    assert [lv.price for lv in bids] == sorted((lv.price for lv in bids), reverse=True)
    assert asks[5].qty > asks[0].qty  # deeper levels hold more


def test_a_market_buy_walks_the_asks_and_pays_binances_fee_in_the_coin_received() -> None:
    balances = {("a", "USDT"): D("1000000")}
    e = engine("binance", balances)
    _bids, asks = order_book(BTC_BINANCE, MID)
    amount = asks[0].qty + asks[1].qty + D("0.01")
    order = e.place("a", BTC_BINANCE, "buy", "market", amount, None, "c1", 1)
    assert order.status == "closed" and order.filled == amount
    assert [(f.price, f.qty) for f in order.fills] == [(asks[0].price, asks[0].qty), (asks[1].price, asks[1].qty),
                                                       (asks[2].price, D("0.01"))]
    assert all(f.fee_asset == "BTC" and f.fee == (f.qty * D("0.001")).quantize(D("0.00000001")) for f in order.fills)
    # The level taken is gone for the next order (until the book is rebuilt by its caller).
    again = e.place("a", BTC_BINANCE, "buy", "market", D("0.001"), None, "c2", 2)
    assert again.fills[0].price == asks[2].price


def test_coinbase_charges_its_fee_in_the_quote() -> None:
    e = engine("coinbase", {("a", "USD"): D("100000")})
    order = e.place("a", BTC_COINBASE, "buy", "market", D("0.1"), None, "c1", 1)
    assert {f.fee_asset for f in order.fills} == {"USD"}
    assert sum(f.fee for f in order.fills) == sum((f.qty * f.price * D("0.006")).quantize(D("0.00000001"))
                                                 for f in order.fills)


def test_a_limit_order_fills_what_its_price_reaches_rests_locked_then_fills_as_maker_or_is_cancelled() -> None:
    balances = {("a", "USDT"): D("200000")}
    e = engine("binance", balances)
    _bids, asks = order_book(BTC_BINANCE, MID)
    amount = asks[0].qty + D("1")
    order = e.place("a", BTC_BINANCE, "buy", "limit", amount, asks[0].price, "c1", 1)
    assert order.status == "open" and order.filled == asks[0].qty  # partially filled
    assert order.locked == D("1") * asks[0].price * D("1.001")
    assert e.available("a", "USDT") == D("200000") - order.locked
    (filled,) = e.cross(BTC_BINANCE, asks[0].price - D("1"), 5)
    assert filled[1].is_maker and filled[1].qty == D("1") and order.status == "closed" and order.locked == 0
    second = e.place("a", BTC_BINANCE, "buy", "limit", D("0.5"), D("50000.00"), "c2", 6)
    assert second.status == "open" and second.filled == 0
    cancelled = e.cancel("a", second.id)
    assert cancelled.status == "canceled" and e.available("a", "USDT") == D("200000")
    with pytest.raises(OrderRefused) as refused:
        e.cancel("a", second.id)
    assert refused.value.reason == "not_open"


def test_what_the_venue_refuses_is_refused_with_its_reason() -> None:
    e = engine("binance", {("a", "USDT"): D("100"), ("a", "BTC"): D("0.001")})

    def reason(*args: object) -> str:
        with pytest.raises(OrderRefused) as refused:
            e.place(*args)  # type: ignore[arg-type]
        return refused.value.reason

    assert reason("a", BTC_BINANCE, "buy", "market", D("0.000015"), None, "x1", 1) == "precision"
    assert reason("a", BTC_BINANCE, "buy", "limit", D("0.001"), D("60000.005"), "x2", 1) == "precision"
    assert reason("a", BTC_BINANCE, "buy", "market", D("0.00001"), None, "x3", 1) == "min_notional"
    assert reason("a", BTC_BINANCE, "buy", "market", D("0.01"), None, "x4", 1) == "insufficient_balance"
    assert reason("a", BTC_BINANCE, "sell", "market", D("0.002"), None, "x5", 1) == "insufficient_balance"
    ok = e.place("a", BTC_BINANCE, "sell", "market", D("0.001"), None, "x6", 1)
    with pytest.raises(OrderRefused) as dup:
        e.place("a", BTC_BINANCE, "sell", "market", D("0.001"), None, "x6", 2)
    assert dup.value.reason == "duplicate" and dup.value.existing is ok  # the retry finds the first order
    assert e.by_client_id("a", "x6") is ok


def test_a_market_order_larger_than_the_book_fills_what_there_is_and_expires_the_rest() -> None:
    shallow = MatchingEngine("binance", lambda acc, asset: D("10") ** 9,
                             lambda m: ([Level(D("59990"), D("0.5"))], [Level(D("60010"), D("0.5"))]))
    order = shallow.place("a", BTC_BINANCE, "buy", "market", D("2"), None, "c1", 1)
    assert order.status == "expired" and order.filled == D("0.5") and order.locked == 0
    with pytest.raises(OrderRefused) as refused:
        shallow.place("a", BTC_BINANCE, "buy", "market", D("1"), None, "c2", 2)
    assert refused.value.reason == "no_liquidity"
