"""A band may name a coin the portfolio does not hold yet: with a price it is a first purchase, without one it is
a named skip — never a KeyError that stops every portfolio's proposal (found on the semantics world)."""

from decimal import Decimal as D

from pipelines.domain.rebalancing import Band, Holding, Market, Targets, propose

SOL = Market("binance", "SOL/USDT", "SOL", "USDT", bid=D("149.9"), ask=D("150.1"), amount_step=D("0.01"),
             price_step=D("0.01"), min_amount=D("0.01"), min_notional=D("5"), taker_fee=D("0.001"))
HOLDINGS = [Holding("a1", "binance", "BTC", D("1"), D("1")), Holding("a1", "binance", "USDT", D("40000"), D("40000"))]
TARGETS = Targets("p1", "USDT", (Band.around("SOL", D("0.20"), D("0.05")),))


def test_a_coin_not_held_is_bought_at_its_price() -> None:
    p = propose(TARGETS, HOLDINGS, [SOL], {"BTC": D("60000"), "SOL": D("150")})
    (sol,) = [d for d in p.drifts if d.asset == "SOL"]
    assert (sol.weight, sol.outside) == (D(0), True)
    (buy,) = p.orders
    # 20 % of 100,000 = 20,000 to spend at the ask 150.1 with 0.1 % fee: 20,000 / 150.2501 = 133.111… → 133.11
    assert (buy.side, buy.symbol, buy.amount) == ("buy", "SOL/USDT", D("133.11"))
    assert buy.notional + buy.fee <= D("20000")


def test_a_coin_nobody_prices_is_skipped_with_the_reason() -> None:
    p = propose(TARGETS, HOLDINGS, [SOL], {"BTC": D("60000")})
    assert p.orders == []
    assert [(s.asset, s.reason) for s in p.skipped] == [("SOL", "no price for SOL in USDT")]
