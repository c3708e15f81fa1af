"""Arbitrage detection's pure parts (issue 18 §3): the opportunity through two books net of both taker fees and the
transfer cost, which symbols are compared, what moving the coins costs, the alert threshold; and the service's
per-tenant scan (pure: books in, opportunities out) keeping to the tenant's own venues."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.domain.arbitrage import (
    DEFAULT_WITHDRAWAL_FEE,
    VenueQuote,
    above_threshold,
    opportunities,
    pair_opportunity,
    shared_symbols,
    transfer_cost,
)
from pipelines.domain.routing import Level
from pipelines.services.arbitrage import Books, scan_tenant

D = Decimal
FEE_A, FEE_B = D("0.001"), D("0.002")


def quote(venue: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], fee: Decimal) -> VenueQuote:
    return VenueQuote(venue, tuple(Level(D(p), D(q)) for p, q in bids), tuple(Level(D(p), D(q)) for p, q in asks),
                      fee)


CHEAP = quote("a", [("99", "5")], [("100", "1"), ("100.5", "2"), ("103", "9")], FEE_A)
DEAR = quote("b", [("102", "1.5"), ("101.5", "1"), ("100", "9")], [("102.5", "5")], FEE_B)


def test_units_are_taken_while_the_next_one_pays_after_both_fees() -> None:
    opp = pair_opportunity(CHEAP, DEAR)
    assert opp is not None and (opp.buy_venue, opp.sell_venue) == ("a", "b")
    # Walk by hand: 1 @ 100 → 102 (pays), 0.5 @ 100.5 → 102 (pays), 1 @ 100.5 → 101.5: 100.5 × 1.001 = 100.6005 <
    # 101.5 × 0.998 = 101.297 (pays); then 0.5 @ 100.5 → 100: 100 × 0.998 < 100.6005, stop.
    legs = [(D(1), D(100), D(102)), (D("0.5"), D("100.5"), D(102)), (D(1), D("100.5"), D("101.5"))]
    assert opp.size == sum(q for q, _, _ in legs)
    assert opp.buy_cost == sum(q * a * (1 + FEE_A) for q, a, _ in legs)
    assert opp.sell_proceeds == sum(q * b * (1 - FEE_B) for q, _, b in legs)
    assert opp.edge_bps == opp.net_profit / opp.buy_cost * 10_000
    assert (opp.best_ask, opp.best_bid) == (D(100), D(102))


def test_the_transfer_cost_is_taken_once_and_can_kill_the_opportunity() -> None:
    free = pair_opportunity(CHEAP, DEAR)
    assert free is not None
    costly = pair_opportunity(CHEAP, DEAR, D("1.5"))
    assert costly is not None and costly.size == free.size and costly.net_profit == free.net_profit - D("1.5")
    assert pair_opportunity(CHEAP, DEAR, free.net_profit) is None  # nothing left: no opportunity


def test_fees_that_eat_the_gap_leave_nothing() -> None:
    a = quote("a", [], [("100", "1")], D("0.006"))
    b = quote("b", [("101", "1")], [], D("0.006"))  # 1 % gap, 1.2 % of fees
    assert pair_opportunity(a, b) is None
    assert opportunities([a, b]) == []


def test_shared_symbols_are_those_two_venues_quote() -> None:
    listed = {"binance": {"BTC/USDT", "SOL/USDT"}, "htx": {"SOL/USDT", "ETH/USDT"}, "kraken": {"BTC/USD"}}
    assert shared_symbols(listed) == ["SOL/USDT"]


def test_transfer_cost_is_the_coin_out_at_the_ask_and_the_quote_back() -> None:
    assert transfer_cost(D("0.01"), D("122.5"), D("1")) == D("0.01") * D("122.5") + 1


@given(st.decimals(min_value=0, max_value=500, places=2), st.decimals(min_value=-100, max_value=500, places=2))
def test_only_edges_over_the_threshold_alert(threshold: Decimal, gap_bps: Decimal) -> None:
    ask = D(100)
    bid = ask * (1 + gap_bps / 10_000)
    found = opportunities([quote("a", [], [(str(ask), "1")], D(0)), quote("b", [(str(bid), "1")], [], D(0))])
    alerted = above_threshold(found, threshold)
    assert all(o.edge_bps > threshold for o in alerted)
    assert len(alerted) == (1 if gap_bps > threshold and gap_bps > 0 else 0)


def test_a_tenant_is_scanned_on_its_own_venues_with_the_fees_it_was_charged() -> None:
    books = Books({"SOL/USDT": [quote("binance", [("124", "50")], [("124.1", "50")], D("0.001")),
                                quote("htx", [("121.9", "50")], [("122", "50")], D("0.002")),
                                quote("okx", [("130", "50")], [("130.1", "50")], D("0.001"))]}, read=3)
    mine = scan_tenant("bluefin", ["binance", "htx"], books, {("htx", "SOL"): D("0.05")}, D(50))
    (symbol, opp), = mine.found  # okx is not the tenant's: its higher bid is not an opportunity for it
    assert (symbol, opp.buy_venue, opp.sell_venue, opp.size) == ("SOL/USDT", "htx", "binance", D(50))
    # The fee HTX charged (0.05 SOL) replaces the default; the USDT back from Binance is the default.
    assert opp.transfer_cost == D("0.05") * D(122) + DEFAULT_WITHDRAWAL_FEE["USDT"]
    assert mine.alerted == [(symbol, opp)] and opp.edge_bps > 50
    assert scan_tenant("acme", ["binance"], books, {}, D(50)).found == []  # one venue: nothing to compare


def test_a_coin_without_a_known_withdrawal_fee_is_not_compared_and_says_so() -> None:
    books = Books({"XYZ/USDT": [quote("binance", [("2", "10")], [("2.01", "10")], D(0)),
                                quote("htx", [("1", "10")], [("1.01", "10")], D(0))]}, read=2)
    scan = scan_tenant("acme", ["binance", "htx"], books, {}, D(50))
    assert scan.found == []
    assert scan.problems and all("no withdrawal fee known for XYZ" in p for p in scan.problems)
    with_fee = scan_tenant("acme", ["binance", "htx"], books, {("htx", "XYZ"): D("0.1")}, D(50))
    assert [(o.buy_venue, o.sell_venue) for _, o in with_fee.found] == [("htx", "binance")]


@pytest.mark.parametrize("threshold", [D(0), D(10_000)])
def test_the_threshold_decides_the_alert_not_the_observation(threshold: Decimal) -> None:
    books = Books({"SOL/USDT": [quote("binance", [("124", "50")], [("124.1", "50")], D("0.001")),
                                quote("htx", [("121.9", "50")], [("122", "50")], D("0.002"))]}, read=2)
    scan = scan_tenant("bluefin", ["binance", "htx"], books, {}, threshold)
    assert len(scan.found) == 1
    assert len(scan.alerted) == (1 if threshold == 0 else 0)
