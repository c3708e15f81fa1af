"""The sandbox world at any scale (issue 17 §1): the demo world is the one it was, byte for byte; a scaled world
is the demo world plus generated tenants that keep the same invariants; a day of new activity is deterministic."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import pytest

from sandbox import exports
from sandbox.world import DEMO, DEMO_TRADES, Scale, World, tenant_attempts

# sha256 of the demo world's truth, published accounts, every trade and transfer, the CSV exports and the price
# path (the digest below), computed on main before worlds could scale (commit 7b54385).
DEMO_DIGEST = "8066caff2c4d11535a8a9e5a655e6c18438f5aed62ee93451ffed644ba8b9594"
SMALL = Scale(4, 5_000)
WORLDS: dict[Scale, World] = {}


def world(scale: Scale = DEMO) -> World:
    if scale not in WORLDS:
        WORLDS[scale] = World(scale=scale)
    return WORLDS[scale]


def digest(w: World) -> str:
    h = hashlib.sha256()

    def feed(value: Any) -> None:
        h.update(json.dumps(value, sort_keys=True, default=str).encode())

    feed(w.truth())
    feed(w.published_accounts())
    for account in sorted(w.accounts):
        feed([asdict(t) for t in w.trades[account]])
        feed([asdict(t) for t in w.transfers[account]])
        venue = w.accounts[account].venue
        if venue == "binance":
            feed(exports.binance_trade_history_csv(w, account))
            feed(exports.binance_statement_csv(w, account))
        if venue == "kraken":
            feed(exports.kraken_ledgers_csv(w, account))
        if venue == "coinbase":
            feed(exports.coinbase_transactions_csv(w, account))
    h.update(w.prices.usd.tobytes())
    return h.hexdigest()


def test_the_demo_world_is_unchanged() -> None:
    assert digest(world()) == DEMO_DIGEST
    assert sum(len(t) for t in world().trades.values()) == DEMO_TRADES
    assert "scale" not in world().truth()  # the demo's truth is the one the tests pin


@pytest.mark.parametrize(("text", "expected"), [
    ("demo", DEMO), ("", DEMO), ("20x100000", Scale(20, 100_000)), ("50X1_000_000", Scale(50, 1_000_000)),
])
def test_scales_parse(text: str, expected: Scale) -> None:
    assert Scale.parse(text) == expected


@pytest.mark.parametrize("text", ["20", "x100", "1x5000", "3x100", "2x9000", "twentyx100000"])
def test_scales_that_cannot_be_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Scale.parse(text)


def test_attempts_share_the_new_trades_among_the_new_tenants() -> None:
    scale = Scale(5, 10_000)
    per_tenant = [sum(tenant_attempts(scale, n).values()) for n in (3, 4, 5)]
    assert sum(per_tenant) == 10_000 - DEMO_TRADES and max(per_tenant) - min(per_tenant) <= 1


def test_a_scaled_world_keeps_the_demo_and_adds_tenants_that_reconcile() -> None:
    demo, small = world(), world(SMALL)
    # the demo's tenants are the same to the last record, with the same (only) planted breaks
    for account in demo.accounts:
        assert small.trades[account] == demo.trades[account] and small.transfers[account] == demo.transfers[account]
    truth = small.truth()
    assert truth["discrepancies"] == demo.truth()["discrepancies"]
    assert truth["malformed"] == demo.truth()["malformed"]
    assert truth["scale"] == "4x5000"
    new = [a for a in small.accounts if a not in demo.accounts]
    assert {small.accounts[a].tenant_id for a in new} == {"client-003", "client-004"}
    assert {small.accounts[a].venue for a in new} == {"binance", "coinbase", "kraken", "bitfinex", "htx"}
    trades = sum(len(t) for t in small.trades.values())
    assert 0.99 * SMALL.trades <= trades <= SMALL.trades
    for account in new:  # generated accounts: reported = computed (no break), nothing negative
        facts = truth["accounts"][account]
        assert facts["reported_balances"] == facts["computed_balances"]
        assert all(Decimal(q) >= 0 for q in facts["computed_balances"].values())
    # one internal transfer per generated tenant (transfer matching has a pair to find in each)
    assert {t["tenant_id"] for t in truth["internal_transfers"]} >= {"client-003", "client-004"}
    # every published account has its keys, so `coinbook run` registers the whole scaled world
    published = {a["account_id"] for a in small.published_accounts()}
    assert published == set(small.accounts)


def test_trade_ids_are_unique_per_market_and_rise_with_time_per_account() -> None:
    small = world(SMALL)
    seen: set[tuple[str, str, int]] = set()
    for account, trades in small.trades.items():
        venue = small.accounts[account].venue
        last: dict[str, int] = {}
        for t in trades:
            key = (venue, t.symbol, t.id)
            assert key not in seen, key
            seen.add(key)
            assert t.id > last.get(t.symbol, 0), (account, t.symbol)  # Binance's fromId paging relies on it
            last[t.symbol] = t.id


def test_a_day_of_new_activity_is_the_same_on_every_run() -> None:
    now = 1_800_000_000_000
    first, second = World(scale=SMALL), World(scale=SMALL)
    assert first.fingerprint() == second.fingerprint()  # the scaled world itself is seeded too
    added = first.advance_day(1, now_ms=now)
    assert added == second.advance_day(1, now_ms=now)
    assert all(n >= 1 for n in added.values())
    for account, n in added.items():
        new = first.trades[account][-n:]
        assert new == second.trades[account][-n:]
        assert all(t.time_ms < now for t in new)
    # day 2 is another day (other trades), and balances still follow the ledger rule everywhere
    day1 = [(t.symbol, t.qty) for a, n in added.items() for t in first.trades[a][-n:]]
    added2 = first.advance_day(2, now_ms=now + 86_400_000)
    assert day1 != [(t.symbol, t.qty) for a, n in added2.items() for t in first.trades[a][-n:]]
    for account in first.accounts:
        assert all(q >= 0 for q in first.computed_balances(account).values()), account
