"""Sending proposals (pipelines/domain/execution.py): the marketable limit never passes the slippage and stays on the
tick; the proposal's state from its orders' reports; only accounts with `trading: enabled` send."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.domain.execution import OrderReport, outcome, send_price, trading_refusals
from pipelines.services.accounts import AccountSpec, account_problems

D = Decimal


@given(limit=st.decimals(D("0.01"), D("200000"), places=2), bps=st.integers(0, 500),
       tick=st.sampled_from([D("0.01"), D("0.1"), D("0.00001")]), side=st.sampled_from(["buy", "sell"]))
def test_the_price_sent_is_on_the_tick_and_within_the_slippage(limit: Decimal, bps: int, tick: Decimal,
                                                               side: str) -> None:
    limit = (limit / tick).to_integral_value() * tick or tick
    price = send_price(limit, side, D(bps), tick)
    assert price % tick == 0
    if side == "buy":
        assert limit <= price <= limit * (1 + D(bps) / 10_000)
    else:
        assert limit * (1 - D(bps) / 10_000) <= price <= limit


def test_a_sell_at_50_bps_on_a_cent_tick() -> None:
    assert send_price(D("57252.00"), "sell", D(50), D("0.01")) == D("56965.74")
    assert send_price(D("57252.04"), "buy", D(50), D("0.01")) == D("57538.30")
    with pytest.raises(ValueError, match="side"):
        send_price(D(1), "hold", D(0), D("0.01"))


def r(i: int, status: str, filled: str = "0", amount: str = "1", reason: str | None = None) -> OrderReport:
    return OrderReport(i, D(amount), status, D(filled), reason)


@pytest.mark.parametrize(("reports", "state"), [
    ([r(0, "closed", "1"), r(1, "closed", "1")], "filled"),
    ([r(0, "closed", "1"), r(1, "open", "0")], "partially_filled"),
    ([r(0, "open", "0.4")], "partially_filled"),
    ([r(0, "expired", "0.4")], "partially_filled"),
    ([r(0, "closed", "1"), r(1, "refused", reason="no funds")], "partially_filled"),
    ([r(0, "open"), r(1, "open")], "sent"),
    ([r(0, "open"), r(1, "refused", reason="no funds")], "sent"),
    ([r(0, "refused", reason="no funds"), r(1, "canceled")], "failed"),
    ([], "sent"),
])
def test_the_proposal_follows_its_orders(reports: list[OrderReport], state: str) -> None:
    assert outcome(reports)[0] == state


def test_why_is_said() -> None:
    state, why = outcome([r(0, "refused", reason="binance refused: insufficient balance"), r(1, "expired")])
    assert state == "failed" and why == "order 0: binance refused: insufficient balance; order 1: expired"
    state, why = outcome([r(0, "closed", "1"), r(1, "refused", reason="min notional")])
    assert why == "1 of 2 filled; order 1: min notional"
    with pytest.raises(ValueError, match="unknown report status"):
        OrderReport(0, D(1), "done")


def test_only_accounts_with_trading_enabled_send() -> None:
    assert trading_refusals({"a": {"trading": "enabled"}, "b": {}, "c": {"trading": "disabled"}}) == ["b", "c"]
    spec = AccountSpec("acme", "Acme", "main", "Main", "acme-binance", "binance", "Binance", "live", "env:acme",
                       settings={"trading": "enabled"})
    assert account_problems(spec, ("binance",)) == []
    wrong = AccountSpec(**{**spec.__dict__, "settings": {"trading": True}})
    assert [f for f, _ in account_problems(wrong, ("binance",))] == ["trading"]
