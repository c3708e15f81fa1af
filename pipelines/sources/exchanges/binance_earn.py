"""Binance Simple Earn (flexible and locked products) → canonical transfers rows and balance rows. Pure: no I/O.

Binance lists Earn activity in its own history endpoints, not in deposits, withdrawals or universal transfers
(developers.binance.com/docs/simple_earn, "History"); each answers {"rows": [...], "total": n}, newest first,
`current` (page, from 1) and `size` (≤ 100), startTime/endTime at most 3 months apart:
  flexible/history/subscriptionRecord  amount moved into a flexible product; sourceAccount SPOT, FUNDING or
      SPOTANDFUNDING (then amtFromSpot + amtFromFunding); type CONVERT / TRANSFER: from a locked product (the
      locked redemption NEW_TRANSFERRED books that move, so it is not booked twice); status PURCHASING/SUCCESS/FAILED
  flexible/history/redemptionRecord    amount back to destAccount SPOT or FUNDING; status PAID when done
  flexible/history/rewardsRecord       `rewards`; type REALTIME (real-time APR: accrues into the flexible
      product), BONUS (bonus tiered APR: paid to Spot), REWARDS (historical: as real-time)
  locked/history/subscriptionRecord    amount locked (sourceAccount as above); status as above
  locked/history/redemptionRecord      amount back to Spot (MATURE, AHEAD) or to a flexible product
      (NEW_TRANSFERRED); status PAID
  locked/history/rewardsRecord         `amount` paid to Spot (Locked Rewards, Boost Rewards, …)
Binance's support pages ("Get Started with Binance Simple Earn Flexible/Locked Products"): subscriptions leave
the Spot Wallet at once, redemptions and locked rewards arrive in it, real-time APR rewards accumulate in the Earn
wallet, bonus tiered APR rewards are paid to Spot.

Coinbook reads the Spot wallet's balance; Earn is another wallet of the account ('binance:earn_flexible',
'binance:earn_locked'), as Funding is: a subscription is a wallet_out (held, not disposed of), a redemption a
wallet_in, a reward income. A move that does not touch Spot (Funding → Earn, locked → flexible, a reward accrued
in Earn) is written as the pair it amounts to through Spot — in and straight out again, same time — so the ledger's
two legs per row keep every wallet right and Spot unchanged. The Earn balances (flexible/position `totalAmount`,
locked/position `amount`) are balance rows of their wallet, so reconciliation compares the Earn wallet too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pipelines.sources.exchanges.canonical import clean_text, ms_to_datetime, record_hash, to_decimal
from pipelines.sources.exchanges.normalise import Row, _base

FLEXIBLE, LOCKED = "binance:earn_flexible", "binance:earn_locked"
FUNDING = "binance:funding"
SUBSCRIBED = {"SUCCESS": "ok", "PURCHASING": "pending", "FAILED": "failed"}
REDEEMED = {"PAID": "ok"}  # anything else (e.g. still paying out) is not there yet
# Simple Earn opened on 2022-09-22 (Binance: "Introduction to Binance Simple Earn"); older Savings history is not
# served by these endpoints
SIMPLE_EARN_START_MS = 1_663_804_800_000


@dataclass(frozen=True)
class EarnEndpoint:
    """One history list: its cursor name, ccxt's implicit method, fixed params, and what a row is."""

    name: str
    method: str
    params: tuple[tuple[str, str], ...]
    kind: str  # flexible_subscription | flexible_redemption | flexible_reward | locked_subscription | …


EARN_ENDPOINTS = (
    EarnEndpoint("earn:flexible_subscriptions", "sapiGetSimpleEarnFlexibleHistorySubscriptionRecord", (),
                 "flexible_subscription"),
    EarnEndpoint("earn:flexible_redemptions", "sapiGetSimpleEarnFlexibleHistoryRedemptionRecord", (),
                 "flexible_redemption"),
    # type is mandatory: ALL (the docs' default) lists BONUS, REALTIME and REWARDS in one call
    EarnEndpoint("earn:flexible_rewards", "sapiGetSimpleEarnFlexibleHistoryRewardsRecord", (("type", "ALL"),),
                 "flexible_reward"),
    EarnEndpoint("earn:locked_subscriptions", "sapiGetSimpleEarnLockedHistorySubscriptionRecord", (),
                 "locked_subscription"),
    EarnEndpoint("earn:locked_redemptions", "sapiGetSimpleEarnLockedHistoryRedemptionRecord", (),
                 "locked_redemption"),
    EarnEndpoint("earn:locked_rewards", "sapiGetSimpleEarnLockedHistoryRewardsRecord", (), "locked_reward"),
)
POSITION_METHODS = ((FLEXIBLE, "sapiGetSimpleEarnFlexiblePosition", "totalAmount"),
                    (LOCKED, "sapiGetSimpleEarnLockedPosition", "amount"))


@dataclass(frozen=True)
class Leg:
    """One transfers row to write: its type, the other wallet, how much, and a suffix for its id."""

    transfer_type: str  # wallet_out | wallet_in | income
    other: str | None
    amount: Decimal
    suffix: str


def _subscription_legs(row: dict[str, Any], earn: str) -> list[Leg]:
    """Spot → Earn (wallet_out); Funding → Earn as Funding → Spot → Earn; both parts of SPOTANDFUNDING."""
    amount = to_decimal(row.get("amount")) or Decimal(0)
    source = (clean_text(row.get("sourceAccount")) or "SPOT").upper()
    if source == "SPOTANDFUNDING":
        spot, funding = to_decimal(row.get("amtFromSpot")) or Decimal(0), to_decimal(row.get("amtFromFunding"))
        funding = amount - spot if funding is None else funding
    elif source in ("FUNDING", "FUND"):
        spot, funding = Decimal(0), amount
    else:
        spot, funding = amount, Decimal(0)
    legs = [Leg("wallet_out", earn, spot, "spot")] if spot else []
    if funding:
        legs += [Leg("wallet_in", FUNDING, funding, "funding_in"), Leg("wallet_out", earn, funding, "funding_out")]
    return legs


def _redemption_legs(row: dict[str, Any], earn: str, kind: str) -> list[Leg]:
    """Earn → Spot (wallet_in); Earn → Funding or locked → flexible as a pass through Spot."""
    amount = to_decimal(row.get("amount")) or Decimal(0)
    if kind == "locked_redemption" and clean_text(row.get("type")) == "NEW_TRANSFERRED":
        target = FLEXIBLE
    elif (clean_text(row.get("destAccount")) or "SPOT").upper() in ("FUNDING", "FUND"):
        target = FUNDING
    else:
        return [Leg("wallet_in", earn, amount, "spot")]
    return [Leg("wallet_in", earn, amount, "in"), Leg("wallet_out", target, amount, "out")]


def earn_legs(kind: str, row: dict[str, Any]) -> list[Leg]:
    """The transfers rows one Simple Earn history row stands for (none for a move the other side books)."""
    if kind == "flexible_subscription":
        if (clean_text(row.get("type")) or "").upper() in ("CONVERT", "TRANSFER"):
            return []  # from a locked product: its redemption (NEW_TRANSFERRED) is the move
        return _subscription_legs(row, FLEXIBLE)
    if kind == "locked_subscription":
        return _subscription_legs(row, LOCKED)
    if kind in ("flexible_redemption", "locked_redemption"):
        return _redemption_legs(row, FLEXIBLE if kind.startswith("flexible") else LOCKED, kind)
    if kind == "flexible_reward":
        amount = to_decimal(row.get("rewards")) or Decimal(0)
        if clean_text(row.get("type")) == "BONUS":
            return [Leg("income", None, amount, "spot")]
        # real-time (and historical) rewards accrue in the flexible product: income, then held there
        return [Leg("income", None, amount, "earned"), Leg("wallet_out", FLEXIBLE, amount, "accrued")]
    if kind == "locked_reward":
        return [Leg("income", None, to_decimal(row.get("amount")) or Decimal(0), "spot")]
    raise ValueError(f"not a Simple Earn history: {kind}")


def _record_id(kind: str, row: dict[str, Any]) -> str:
    """The venue's id of the row where it has one (purchaseId, redeemId); a reward has none: its time, type,
    asset, product or position and amount identify it."""
    for key in ("purchaseId", "redeemId"):
        if row.get(key) not in (None, ""):
            return f"{kind}:{row[key]}"
    parts = [row.get(k) for k in ("time", "type", "asset", "projectId", "positionId", "rewards", "amount")]
    return f"{kind}:" + ":".join("" if p is None else str(p) for p in parts)


def _status(kind: str, row: dict[str, Any]) -> str:
    if kind.endswith("reward"):
        return "ok"  # a reward row is a payment made
    native = (clean_text(row.get("status")) or "").upper()
    table = SUBSCRIBED if kind.endswith("subscription") else REDEEMED
    return table.get(native, "pending" if kind.endswith("redemption") else native.lower() or "ok")


def normalise_earn(kind: str, row: dict[str, Any], *, tenant_id: str, account_id: str, run_id: str | None) -> list[Row]:
    """One Simple Earn history row → raw.binance_transfers rows (wallet_out / wallet_in / income). Each keeps the
    whole native row as payload; source_record_id = type:id:leg:status, so a re-read adds nothing and a status
    change (PURCHASING → SUCCESS) is a new version of the same transfer."""
    base_id, status = _record_id(kind, row), _status(kind, row)
    out = []
    for leg in earn_legs(kind, row):
        if not leg.amount:
            continue
        transfer_id = f"{base_id}:{leg.suffix}"
        r = _base(tenant_id, account_id, "binance", f"{leg.transfer_type}:{transfer_id}:{status}", row, run_id)
        r.update(transfer_id=transfer_id, transfer_type=leg.transfer_type,
                 occurred_at=ms_to_datetime(row.get("time")), asset=clean_text(row.get("asset")),
                 amount=abs(leg.amount), fee_amount=None, fee_asset=None, status=status, network=None,
                 address=leg.other, txid=None)
        out.append(r)
    return out


def position_rows(positions: dict[str, list[dict[str, Any]]], *, tenant_id: str, account_id: str,
                  run_id: str | None, fetched_ms: int, previously_held: dict[str, set[str]]) -> list[Row]:
    """The Earn wallets' balances as balance rows, one per wallet and coin: `positions` maps the wallet
    (FLEXIBLE, LOCKED) to its position rows. The wallet is in the payload (`wallet`); a coin the wallet held at
    the last snapshot and no longer lists is written as 0 (a wallet emptied is a fact). No venue time: stamped
    with the fetch time and a digest of the amounts (`snapshot`), so an unchanged Earn wallet adds nothing."""
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    native: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for wallet, rows in positions.items():
        field = dict((w, f) for w, _, f in POSITION_METHODS)[wallet]
        for p in rows:
            coin = clean_text(p.get("asset"))
            if coin:
                amounts[(wallet, coin)] += to_decimal(p.get(field)) or Decimal(0)
                native[(wallet, coin)].append(p)
        for coin in previously_held.get(wallet, set()):
            amounts.setdefault((wallet, coin), Decimal(0))
    snapshot = earn_digest(amounts)
    out = []
    for (wallet, coin), total in sorted(amounts.items()):
        payload = {"wallet": wallet, "positions": native[(wallet, coin)], "updateTime": fetched_ms,
                   "snapshot": snapshot}
        r = _base(tenant_id, account_id, "binance", f"{wallet}:{coin}@{fetched_ms}", payload, run_id)
        r.update(asset=coin, free=total, used=Decimal(0), total=total, observed_at=ms_to_datetime(fetched_ms))
        out.append(r)
    return out


def earn_digest(amounts: dict[tuple[str, str], Decimal]) -> str:
    """A digest of the Earn wallets' amounts, zero ones left out (so 'emptied' equals 'never held')."""
    return record_hash({f"{w}|{c}": str(q.normalize()) for (w, c), q in sorted(amounts.items()) if q})
