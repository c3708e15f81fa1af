"""Internal transfer matching (pipelines/domain/transfers.py): txid first, then amount within the fee tolerance
and the time window, one-to-one, with manual overrides; never across tenants or within one account."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipelines.domain.transfers import MatchRules, Movement, Override, match_transfers, normalise_txid, plausible

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def mv(eid: str, account: str, direction: str, amount: str, minutes: float = 0, asset: str = "BTC",
       txid: str | None = None, tenant: str = "acme") -> Movement:
    return Movement(eid, tenant, account, asset, Decimal(amount), T0 + timedelta(minutes=minutes), direction, txid)


def pairs(matches: list) -> set[tuple[str, str, str]]:
    return {(m.outflow.entry_id, m.inflow.entry_id, m.method) for m in matches}


def test_txid_wins_over_a_closer_amount_and_time_candidate() -> None:
    movements = [mv("w", "exchange", "out", "0.5", 0, txid="0xABCDEF"),
                 mv("decoy", "wallet2", "in", "0.5", 1),
                 mv("d", "wallet", "in", "0.4999", 40, txid="abcdef")]
    assert pairs(match_transfers(movements)) == {("w", "d", "txid")}


def test_amount_within_fee_tolerance_and_window_only() -> None:
    movements = [mv("w1", "a", "out", "1.0", 0), mv("d1", "b", "in", "0.999", 30),  # fee taken: matches
                 mv("w2", "a", "out", "2.0", 0, asset="ETH"), mv("d2", "b", "in", "1.5", 10, asset="ETH"),  # too little
                 mv("w3", "a", "out", "3.0", 0, asset="SOL"),
                 mv("d3", "b", "in", "3.0", 60 * 24 * 4, asset="SOL"),  # too late
                 mv("w4", "a", "out", "4.0", 0, asset="BNB"),
                 mv("d4", "b", "in", "4.1", 5, asset="BNB")]  # more than was sent
    assert pairs(match_transfers(movements)) == {("w1", "d1", "amount_time")}


def test_never_within_one_account_or_across_tenants() -> None:
    movements = [mv("w", "a", "out", "1", 0), mv("d_same", "a", "in", "1", 5),
                 mv("d_other", "x", "in", "1", 5, tenant="bluefin")]
    assert match_transfers(movements) == []


def test_one_to_one_closest_in_time_first() -> None:
    movements = [mv("w1", "a", "out", "1", 0), mv("w2", "a", "out", "1", 10),
                 mv("d1", "b", "in", "1", 12), mv("d2", "b", "in", "1", 25)]
    assert pairs(match_transfers(movements)) == {("w2", "d1", "amount_time"), ("w1", "d2", "amount_time")}


def test_overrides_force_forbid_and_exclude() -> None:
    movements = [mv("w1", "a", "out", "1", 0), mv("d1", "b", "in", "1", 5), mv("d2", "c", "in", "0.5", 5),
                 mv("w3", "a", "out", "7", 0, asset="ETH"), mv("d3", "b", "in", "7", 5, asset="ETH")]
    overrides = [Override("no_match", "w1", "d1"), Override("match", "w1", "d2"), Override("external", "w3", None)]
    assert pairs(match_transfers(movements, overrides)) == {("w1", "d2", "override")}


def test_txid_normalisation() -> None:
    assert normalise_txid("0xABC:1") == normalise_txid("abc") == "abc"
    assert normalise_txid("  ") is None and normalise_txid(None) is None


def test_random_worlds_every_seeded_pair_found_and_nothing_else() -> None:
    rng = random.Random(7)
    for _ in range(50):
        movements, expected = [], set()
        for n in range(30):
            amount = Decimal(rng.randint(1, 10_000)) / 100
            start = rng.uniform(0, 60 * 24 * 365)
            out = mv(f"w{n}", f"acct{rng.randint(0, 3)}", "out", str(amount), start,
                     asset=rng.choice(["BTC", "ETH", "USDT"]), txid=f"{n:064x}" if rng.random() < 0.5 else None)
            fee = (amount * Decimal(rng.randint(0, 15)) / 1000).quantize(Decimal("0.01"))
            inn = mv(f"d{n}", f"acct{rng.randint(4, 6)}", "in", str(amount - fee), start + rng.uniform(1, 600),
                     asset=out.asset, txid=out.txid)
            movements += [out, inn]
            expected.add((out.entry_id, inn.entry_id))
        rules = MatchRules()
        found = {(o, i) for o, i, _ in pairs(match_transfers(movements, rules=rules))}
        outs = [m for m in movements if m.direction == "out"]
        ins = [m for m in movements if m.direction == "in"]
        by_id = {m.entry_id: m for m in movements}
        for o, i in found:  # every match obeys the rules (or shares a txid)
            out, inn = by_id[o], by_id[i]
            assert (out.txid and out.txid == inn.txid) or plausible(out, inn, rules)
        # Where a seeded pair has no competitor, it is found exactly; a competitor can only swap partners.
        for o, i in expected:
            rivals = [x for x in ins if plausible(by_id[o], x, rules)] + \
                     [x for x in outs if plausible(x, by_id[i], rules)]
            if len(rivals) == 2 or by_id[o].txid:
                assert (o, i) in found
