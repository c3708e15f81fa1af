"""Rebalancing proposals: a worked example by hand, the venue's rules (steps, minimums, balances), the breaker,
the proposal's life, and properties over random portfolios (every asset ends inside its band)."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.rebalancing import (
    Band,
    Holding,
    Market,
    Targets,
    client_order_id,
    drifts,
    holdings_after,
    next_state,
    propose,
    step_down,
    step_up,
)

BTC = Market("binance", "BTC/USDT", "BTC", "USDT", bid=D("59990"), ask=D("60010"), amount_step=D("0.0001"),
             price_step=D("0.01"), min_amount=D("0.0001"), min_notional=D("10"), taker_fee=D("0.001"))
ETH = Market("binance", "ETH/USDT", "ETH", "USDT", bid=D("2999"), ask=D("3001"), amount_step=D("0.001"),
             price_step=D("0.01"), min_amount=D("0.001"), min_notional=D("10"), taker_fee=D("0.001"))
PRICES = {"BTC": D("60000"), "ETH": D("3000")}
TARGETS = Targets("p1", "USDT", (Band.around("BTC", D("0.40"), D("0.05")), Band.around("ETH", D("0.40"), D("0.05"))))


def holdings(btc: str = "1", eth: str = "10", usdt: str = "10000") -> list[Holding]:
    return [Holding("a1", "binance", "BTC", D(btc), D(btc)), Holding("a1", "binance", "ETH", D(eth), D(eth)),
            Holding("a1", "binance", "USDT", D(usdt), D(usdt))]


def test_worked_example_sells_the_overweight_and_buys_the_underweight_back_to_target() -> None:
    # 1 BTC (60,000) + 10 ETH (30,000) + 10,000 USDT = 100,000: BTC 60 % (band 35–45 %), ETH 30 % (band 35–45 %).
    p = propose(TARGETS, holdings(), [BTC, ETH], PRICES)
    assert p.value == D("100000")
    assert [(d.asset, d.weight, d.outside) for d in p.drifts] == [("BTC", D("0.6"), True), ("ETH", D("0.3"), True)]
    sell, buy = p.orders
    # BTC: 20 % of 100,000 = 20,000 at 60,000 = 0.3333… → 0.3333 on the 0.0001 step, limit at the bid 59,990.
    assert (sell.side, sell.amount, sell.limit_price) == ("sell", D("0.3333"), D("59990.00"))
    assert sell.notional == D("0.3333") * D("59990")
    assert sell.fee == sell.notional * D("0.001")
    # ETH: 10,000 to spend at the ask 3,001 with 0.1 % fee: 10,000 / 3,004.001 = 3.3289… → 3.328.
    assert (buy.side, buy.amount, buy.limit_price) == ("buy", D("3.328"), D("3001.00"))
    assert buy.notional + buy.fee <= D("10000")
    assert p.expected_cost == sell.fee + buy.fee + D("10") * sell.amount + D("1") * buy.amount
    assert not p.blocked and p.skipped == []


def test_inside_the_bands_nothing_is_proposed() -> None:
    p = propose(TARGETS, holdings(btc="0.7", eth="14", usdt="16000"), [BTC, ETH], PRICES)
    assert not p.needs_trading and p.orders == [] and p.skipped == []


def test_open_breaker_blocks_the_proposal_but_still_shows_it_and_approval_is_refused() -> None:
    p = propose(TARGETS, holdings(), [BTC, ETH], PRICES, breaker_open=True, breaker_reason="volatility 130 % ≥ 120 %")
    assert p.blocked and "volatility 130 %" in (p.block_reason or "")
    assert len(p.orders) == 2  # the manager sees what would be done
    with pytest.raises(ValueError, match="blocked, cannot be approved: circuit breaker open: volatility"):
        next_state("proposed", "approved", blocked=p.blocked, block_reason=p.block_reason)
    assert next_state("proposed", "rejected", blocked=True) == "rejected"


def test_orders_below_the_venues_minimums_are_listed_not_placed() -> None:
    # BTC 46.2 % of 100,000: 6,200 over target is a real sell; ETH 34.8 %: 5.2 % short, 5,200 to buy, but the
    # market's minimum notional is set above it.
    big_min = Market(**{**ETH.__dict__, "min_notional": D("6000")})
    p = propose(TARGETS, holdings(btc="0.77", eth="11.6", usdt="19000"), [BTC, big_min], PRICES)
    assert [o.symbol for o in p.orders] == ["BTC/USDT"]
    (skip,) = p.skipped
    assert skip.asset == "ETH" and "below binance's minimum 6000" in skip.reason


def test_sells_never_exceed_the_free_balance_and_take_from_the_largest_holder_first() -> None:
    hs = [Holding("a1", "binance", "BTC", D("1"), D("0.1")),  # 0.9 locked in open orders
          Holding("a2", "binance", "BTC", D("0.5"), D("0.5")),
          Holding("a1", "binance", "USDT", D("0"), D("0"))]
    t = Targets("p1", "USDT", (Band.around("BTC", D("0.2"), D("0.05")),))
    p = propose(t, hs, [BTC], PRICES)
    assert [(o.account_id, o.amount) for o in p.orders] == [("a2", D("0.5")), ("a1", D("0.1"))]


def test_buys_are_scaled_down_together_when_cash_is_short() -> None:
    t = Targets("p1", "USDT", (Band.around("BTC", D("0.45"), D("0.05")), Band.around("ETH", D("0.45"), D("0.05"))))
    # 100,000 all but 10,000 in USDT: each coin wants 45,000 of the 90,000 cash… there is only what is free.
    hs = [Holding("a1", "binance", "BTC", D("0.05"), D("0.05")), Holding("a1", "binance", "ETH", D("1"), D("1")),
          Holding("a1", "binance", "USDT", D("94000"), D("30000"))]
    p = propose(t, hs, [BTC, ETH], PRICES)
    spent = sum(o.notional + o.fee for o in p.orders)
    assert spent <= D("30000")
    assert any("buys scaled to" in s.reason for s in p.skipped)


def test_an_asset_without_a_price_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="no price for SOL"):
        drifts(TARGETS, [*holdings(), Holding("a1", "binance", "SOL", D("3"), D("3"))], PRICES)


def test_bands_and_targets_are_checked() -> None:
    with pytest.raises(ValueError, match="0 ≤ lower ≤ target ≤ upper ≤ 1"):
        Band("BTC", D("0.5"), D("0.6"), D("0.7"))
    with pytest.raises(ValueError, match=r"add up to 1\.2"):
        Targets("p", "USDT", (Band.around("BTC", D("0.6"), D("0")), Band.around("ETH", D("0.6"), D("0"))))
    with pytest.raises(ValueError, match="cash asset USDT takes what is left"):
        Targets("p", "USDT", (Band.around("USDT", D("0.1"), D("0")),))


def test_steps_round_towards_the_safe_side() -> None:
    assert step_down(D("0.33339"), D("0.0001")) == D("0.3333")
    assert step_up(D("3000.001"), D("0.01")) == D("3000.01")
    assert step_down(D("5"), D("0")) == D("5")


def test_the_proposals_life_never_skips_approval() -> None:
    assert next_state("proposed", "approved") == "approved"
    assert next_state("approved", "sent") == "sent"
    assert next_state("sent", "partially_filled") == "partially_filled"
    assert next_state("partially_filled", "filled") == "filled"
    with pytest.raises(ValueError, match="a proposed proposal cannot become sent"):
        next_state("proposed", "sent")
    with pytest.raises(ValueError, match="it is final"):
        next_state("filled", "sent")


def test_client_order_ids_are_stable_per_order_and_distinct_between_orders() -> None:
    assert client_order_id("prop-1", 0) == client_order_id("prop-1", 0)
    ids = {client_order_id(f"prop-{p}", i) for p in range(50) for i in range(10)}
    assert len(ids) == 500 and all(len(i) == 32 and i.startswith("cb") for i in ids)


weights = st.decimals(min_value=D("0.05"), max_value=D("0.45"), places=2)


@settings(max_examples=150, deadline=None)
@given(btc=st.decimals(min_value=D("0"), max_value=D("3"), places=4),
       eth=st.decimals(min_value=D("0"), max_value=D("60"), places=3),
       usdt=st.decimals(min_value=D("0"), max_value=D("200000"), places=2),
       w_btc=weights, w_eth=weights)
def test_after_the_orders_every_targeted_asset_is_inside_its_band(btc: D, eth: D, usdt: D, w_btc: D, w_eth: D) -> None:
    # Frictionless markets (no spread, no fee, fine steps): the only thing that may stop an asset reaching its
    # band is cash, and a fully funded portfolio always gets there.
    markets = [Market("binance", f"{c}/USDT", c, "USDT", bid=PRICES[c], ask=PRICES[c], amount_step=D("0.00000001"),
                      price_step=D("0.01")) for c in ("BTC", "ETH")]
    t = Targets("p", "USDT", (Band.around("BTC", w_btc, D("0.03")), Band.around("ETH", w_eth, D("0.03"))))
    hs = holdings(str(btc), str(eth), str(usdt))
    value, _ = drifts(t, hs, PRICES)
    if value < 1000:
        return
    p = propose(t, hs, markets, PRICES)
    after = holdings_after(hs, p.orders, markets)
    assert all(h.free >= 0 for h in after)  # never sells what is not free, never spends cash that is not there
    value_after, drift_after = drifts(t, after, PRICES)
    assert abs(value_after - value) < D("0.01")  # frictionless: value is conserved up to the steps
    assert not any(d.outside for d in drift_after), [(d.asset, d.weight, d.lower, d.upper) for d in drift_after]
