"""Binance Simple Earn history rows → transfers rows (sources/exchanges/binance_earn.py), on the rows of Binance's
own response examples (developers.binance.com/docs/simple_earn/flexible-locked/history/*): which wallet each move
leaves and reaches, and that Spot, Funding and the Earn wallets each end where Binance says."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from pipelines.sources.exchanges.binance_earn import FLEXIBLE, FUNDING, LOCKED, normalise_earn, position_rows

D = Decimal
# The docs' examples, as Binance prints them (comments dropped)
FLEXIBLE_SUBSCRIPTION = {"amount": "100.00000000", "asset": "USDT", "time": 1575018510000, "purchaseId": 26055,
                         "productId": "USDT001", "type": "AUTO", "sourceAccount": "SPOTANDFUNDING", "amtFromSpot": "30",
                         "amtFromFunding": "70", "status": "SUCCESS"}
FLEXIBLE_REDEMPTION = {"amount": "10.54000000", "asset": "USDT", "time": 1577257222000, "projectId": "USDT001",
                       "redeemId": 40607, "destAccount": "SPOT", "status": "PAID"}
FLEXIBLE_REWARDS = [{"asset": "BUSD", "rewards": "0.00006408", "projectId": "USDT001", "type": "BONUS",
                     "time": 1577233578000},
                    {"asset": "USDT", "rewards": "0.00687654", "projectId": "USDT001", "type": "REALTIME",
                     "time": 1577233562000}]
LOCKED_SUBSCRIPTION = {"positionId": 123123, "purchaseId": "26055", "projectId": "Axs*90", "time": 1575018510000,
                       "asset": "BNB", "amount": "21312.23223", "lockPeriod": "30", "type": "AUTO",
                       "sourceAccount": "SPOT", "status": "SUCCESS"}
LOCKED_REDEMPTION = {"positionId": 123123, "redeemId": 40607, "time": 1575018510000, "asset": "BNB",
                     "lockPeriod": "30", "amount": "21312.23223", "originalAmount": "21312.23223", "type": "MATURE",
                     "deliverDate": "1575018510000", "lossAmount": "0.00001232", "isComplete": True,
                     "rewardAsset": "AXS", "rewardAmt": "5.17181528", "extraRewardAsset": "BNB",
                     "estExtraRewardAmt": "5.17181528", "status": "PAID"}
LOCKED_REWARD = {"positionId": 123123, "time": 1575018510000, "asset": "BNB", "lockPeriod": "30",
                 "amount": "21312.23223", "type": "Locked Rewards"}


def _rows(kind: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    return normalise_earn(kind, row, tenant_id="t1", account_id="a1", run_id=None)


def _wallets(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """What each wallet gains (Spot: 'spot') per asset, by the ledger's two legs per row (int_ledger)."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        sign = {"wallet_out": -1, "wallet_in": 1, "income": 1}[r["transfer_type"]]
        out[("spot", r["asset"])] += sign * r["amount"]
        if r["transfer_type"] != "income":
            out[(r["address"], r["asset"])] -= sign * r["amount"]
    return {k: v for k, v in out.items() if v}


def test_a_subscription_from_spot_and_funding_takes_each_part_from_its_wallet() -> None:
    rows = _rows("flexible_subscription", FLEXIBLE_SUBSCRIPTION)
    assert _wallets(rows) == {("spot", "USDT"): D(-30), (FUNDING, "USDT"): D(-70), (FLEXIBLE, "USDT"): D(100)}
    assert {r["status"] for r in rows} == {"ok"} and len({r["source_record_id"] for r in rows}) == 3
    assert all(r["txid"] is None for r in rows)  # a shared txid would make int_ledger drop the held legs


def test_a_redemption_to_spot_and_a_locked_subscription_from_spot() -> None:
    assert _wallets(_rows("flexible_redemption", FLEXIBLE_REDEMPTION)) == {("spot", "USDT"): D("10.54"),
                                                                          (FLEXIBLE, "USDT"): D("-10.54")}
    assert _wallets(_rows("locked_subscription", LOCKED_SUBSCRIPTION)) == {("spot", "BNB"): D("-21312.23223"),
                                                                          (LOCKED, "BNB"): D("21312.23223")}
    assert _wallets(_rows("locked_redemption", LOCKED_REDEMPTION)) == {("spot", "BNB"): D("21312.23223"),
                                                                      (LOCKED, "BNB"): D("-21312.23223")}


def test_a_locked_redemption_into_flexible_moves_locked_to_flexible_and_its_subscription_is_not_booked() -> None:
    renewed = {**LOCKED_REDEMPTION, "type": "NEW_TRANSFERRED"}
    assert _wallets(_rows("locked_redemption", renewed)) == {(LOCKED, "BNB"): D("-21312.23223"),
                                                             (FLEXIBLE, "BNB"): D("21312.23223")}
    assert _rows("flexible_subscription", {**FLEXIBLE_SUBSCRIPTION, "type": "CONVERT"}) == []


def test_rewards_are_income_and_a_real_time_reward_stays_in_the_product() -> None:
    bonus, realtime = (_rows("flexible_reward", r) for r in FLEXIBLE_REWARDS)
    assert [(r["transfer_type"], r["amount"]) for r in bonus] == [("income", D("0.00006408"))]
    assert _wallets(bonus) == {("spot", "BUSD"): D("0.00006408")}
    assert [r["transfer_type"] for r in realtime] == ["income", "wallet_out"]
    assert _wallets(realtime) == {(FLEXIBLE, "USDT"): D("0.00687654")}  # Spot unchanged
    assert _wallets(_rows("locked_reward", LOCKED_REWARD)) == {("spot", "BNB"): D("21312.23223")}


def test_a_pending_subscription_and_an_unpaid_redemption_are_not_ok_and_change_their_identity() -> None:
    pending = _rows("locked_subscription", {**LOCKED_SUBSCRIPTION, "status": "PURCHASING"})
    unpaid = _rows("flexible_redemption", {**FLEXIBLE_REDEMPTION, "status": "PAYING"})
    assert [r["status"] for r in pending + unpaid] == ["pending", "pending"]
    done = _rows("locked_subscription", LOCKED_SUBSCRIPTION)
    assert pending[0]["transfer_id"] == done[0]["transfer_id"]
    assert pending[0]["source_record_id"] != done[0]["source_record_id"]


def test_earn_positions_are_balances_of_their_wallet_and_an_emptied_one_is_zero() -> None:
    positions = {FLEXIBLE: [{"totalAmount": "75.46000000", "asset": "USDT", "productId": "USDT001"}],
                 LOCKED: [{"positionId": 1, "asset": "AXS", "amount": "122.09202928"},
                          {"positionId": 2, "asset": "AXS", "amount": "1.00000000"}]}
    rows = position_rows(positions, tenant_id="t1", account_id="a1", run_id=None, fetched_ms=1_700_000_000_000,
                         previously_held={LOCKED: {"BNB"}})
    assert {(r["payload"]["wallet"], r["asset"]): r["total"] for r in rows} == {
        (FLEXIBLE, "USDT"): D("75.46"), (LOCKED, "AXS"): D("123.09202928"), (LOCKED, "BNB"): D(0)}
    again = position_rows(positions, tenant_id="t1", account_id="a1", run_id=None, fetched_ms=1_700_000_060_000,
                          previously_held={})
    # the same amounts later: the same digest (an unchanged Earn wallet is not stored again)
    assert {r["payload"]["snapshot"] for r in rows} == {r["payload"]["snapshot"] for r in again}
