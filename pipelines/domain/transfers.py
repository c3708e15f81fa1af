"""Internal transfer matching: which outflow of one account is the inflow of another account of the same tenant.

A coin moved from an exchange to the client's own wallet is not a sale; a naive ledger books it as one and
loses the cost basis. Rules, in order of confidence:
  1. manual overrides ('match' pairs; 'no_match' forbids a pair; 'external' takes a movement out of matching)
  2. the same on-chain transaction hash on both sides (same asset, another account of the tenant)
  3. same asset, received ≤ sent and no less than sent minus a fee tolerance, the inflow within a window after
     the outflow (a little before is tolerated: venues' clocks differ). Candidates are taken best-first
     (closest in time, then closest in amount) and each movement is used once — a greedy assignment is exact
     when candidates do not compete, and deterministic when they do.
Pure: no I/O. Amounts are Decimals.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class Movement:
    entry_id: str
    tenant_id: str
    account_id: str
    asset: str
    amount: Decimal  # positive
    occurred_at: datetime
    direction: str  # 'out' | 'in'
    txid: str | None = None


@dataclass(frozen=True)
class Override:
    decision: str  # 'match' | 'no_match' | 'external'
    out_entry_id: str | None
    in_entry_id: str | None


@dataclass(frozen=True)
class MatchRules:
    window: timedelta = timedelta(days=3)  # slow chains, exchange credit delays, weekend bank rails
    clock_skew: timedelta = timedelta(minutes=30)  # an inflow stamped a little before its outflow
    fee_tolerance: Decimal = Decimal("0.02")  # received may be up to 2 % below sent (network/venue fees)


@dataclass(frozen=True)
class TransferMatch:
    outflow: Movement
    inflow: Movement
    method: str  # override | txid | amount_time

    @property
    def fee_gap(self) -> Decimal:
        return self.outflow.amount - self.inflow.amount


def normalise_txid(txid: str | None) -> str | None:
    """Venues print hashes with or without 0x, upper or lower case, sometimes with ':<output index>'."""
    if not txid:
        return None
    text = txid.strip().lower().removeprefix("0x").split(":")[0]
    return text or None


def plausible(out: Movement, inn: Movement, rules: MatchRules) -> bool:
    if out.account_id == inn.account_id or out.asset != inn.asset or out.tenant_id != inn.tenant_id:
        return False
    if not out.occurred_at - rules.clock_skew <= inn.occurred_at <= out.occurred_at + rules.window:
        return False
    return out.amount * (1 - rules.fee_tolerance) <= inn.amount <= out.amount


def match_transfers(movements: list[Movement], overrides: list[Override] = (),  # type: ignore[assignment]
                    rules: MatchRules = MatchRules()) -> list[TransferMatch]:
    by_id = {m.entry_id: m for m in movements}
    forbidden = {(o.out_entry_id, o.in_entry_id) for o in overrides if o.decision == "no_match"}
    used: set[str] = {eid for o in overrides if o.decision == "external"
                      for eid in (o.out_entry_id, o.in_entry_id) if eid}
    matches: list[TransferMatch] = []

    def take(out: Movement, inn: Movement, method: str) -> None:
        used.update((out.entry_id, inn.entry_id))
        matches.append(TransferMatch(out, inn, method))

    for o in overrides:
        if o.decision == "match" and o.out_entry_id in by_id and o.in_entry_id in by_id \
                and not {o.out_entry_id, o.in_entry_id} & used:
            take(by_id[o.out_entry_id], by_id[o.in_entry_id], "override")

    outs = sorted((m for m in movements if m.direction == "out"), key=lambda m: (m.occurred_at, m.entry_id))
    ins = sorted((m for m in movements if m.direction == "in"), key=lambda m: (m.occurred_at, m.entry_id))

    inflows_by_tx: dict[tuple[str, str, str], list[Movement]] = defaultdict(list)
    for inn in ins:
        key = normalise_txid(inn.txid)
        if key:
            inflows_by_tx[(inn.tenant_id, inn.asset, key)].append(inn)
    for out in outs:
        key = normalise_txid(out.txid)
        if not key or out.entry_id in used:
            continue
        candidates = [i for i in inflows_by_tx.get((out.tenant_id, out.asset, key), [])
                      if i.entry_id not in used and i.account_id != out.account_id
                      and (out.entry_id, i.entry_id) not in forbidden
                      and abs(i.occurred_at - out.occurred_at) <= rules.window]
        if candidates:  # one transaction paying two of the tenant's accounts: the closest amount first
            take(out, min(candidates, key=lambda i: (abs(out.amount - i.amount), i.occurred_at, i.entry_id)), "txid")

    pairs = []
    by_key: dict[tuple[str, str], list[Movement]] = defaultdict(list)
    for inn in ins:
        if inn.entry_id not in used:
            by_key[(inn.tenant_id, inn.asset)].append(inn)
    for out in outs:
        if out.entry_id in used:
            continue
        for inn in by_key.get((out.tenant_id, out.asset), []):
            if (out.entry_id, inn.entry_id) not in forbidden and plausible(out, inn, rules):
                gap = abs((inn.occurred_at - out.occurred_at).total_seconds())
                pairs.append((gap, out.amount - inn.amount, out.entry_id, inn.entry_id, out, inn))
    for _gap, _diff, _o, _i, out, inn in sorted(pairs, key=lambda p: p[:4]):
        if out.entry_id not in used and inn.entry_id not in used:
            take(out, inn, "amount_time")
    return sorted(matches, key=lambda m: (m.outflow.occurred_at, m.outflow.entry_id))
