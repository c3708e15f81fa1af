"""The sandbox world is deterministic and internally consistent: what the pipeline must reconcile against."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

import pytest

from sandbox.world import ACCOUNTS, DISCREPANCY, END_MS, MARKET_BY_SYMBOL, START_MS, World


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_same_seed_same_world_other_seed_other_world(world: World) -> None:
    assert World(world.seed).fingerprint() == world.fingerprint()
    assert World(world.seed + 1).fingerprint() != world.fingerprint()


def test_minimum_size(world: World) -> None:
    truth = world.truth()
    assert len({a.tenant_id for a in ACCOUNTS}) >= 2 and len(truth["accounts"]) >= 3
    assert sum(a["trades"] for a in truth["accounts"].values()) >= 2000
    assert len({m.base for m in MARKET_BY_SYMBOL.values()} | {m.quote for m in MARKET_BY_SYMBOL.values()}) >= 5
    times = [t.time_ms for trades in world.trades.values() for t in trades]
    assert max(times) - min(times) >= 365 * 86_400_000
    assert min(times) >= START_MS and max(times) <= END_MS


def test_balances_never_go_negative_along_the_history(world: World) -> None:
    for account_id in world.accounts:
        events: list[tuple[int, int, str, Decimal]] = []
        for t in world.trades[account_id]:
            market = world.market_of(t)
            sign = 1 if t.is_buyer else -1
            events += [(t.time_ms, 1, market.base, sign * t.qty), (t.time_ms, 1, market.quote, -sign * t.quote_qty),
                       (t.time_ms, 1, t.commission_asset, -t.commission)]
        for tr in world.transfers[account_id]:
            if tr.counts:
                delta = tr.amount if tr.kind == "deposit" else -(tr.amount + tr.fee)
                events.append((tr.time_ms, 0 if delta > 0 else 1, tr.coin, delta))
        running: dict[str, Decimal] = defaultdict(Decimal)
        for _time, _order, asset, delta in sorted(events, key=lambda e: (e[0], e[1])):
            running[asset] += delta
        assert all(v >= 0 for v in running.values()), account_id
        assert {k: v for k, v in running.items()} == world.computed_balances(account_id)


def test_reported_equals_ledger_except_the_seeded_discrepancy(world: World) -> None:
    _tenant, account, asset, delta = DISCREPANCY
    breaks = []
    for account_id in world.accounts:
        computed, reported = world.computed_balances(account_id), world.reported_balances(account_id)
        for coin in set(computed) | set(reported):
            diff = reported.get(coin, Decimal(0)) - computed.get(coin, Decimal(0))
            if diff:
                breaks.append((account_id, coin, diff))
    assert breaks == [(account, asset, delta)]


def test_quantities_are_exact_on_the_venue_grid(world: World) -> None:
    for trades in world.trades.values():
        for t in trades:
            market = world.market_of(t)
            assert t.qty % market.step == 0 and t.price % market.tick == 0
            assert t.quote_qty.as_tuple().exponent >= -8 and t.commission.as_tuple().exponent >= -8


def test_internal_transfers_pair_up(world: World) -> None:
    assert len(world.internal_transfers) >= 2
    for move in world.internal_transfers:
        sent = [t for t in world.transfers[move["from_account"]] if t.tx_id == move["txid"]]
        received = [t for t in world.transfers[move["to_account"]] if t.tx_id == move["txid"]]
        assert len(sent) == len(received) == 1
        assert sent[0].kind == "withdrawal" and received[0].kind == "deposit"
        assert sent[0].amount == received[0].amount and sent[0].fee > 0
        assert received[0].time_ms > sent[0].time_ms


def test_cancelled_and_failed_transfers_exist_and_do_not_count(world: World) -> None:
    transfers = [t for ts in world.transfers.values() for t in ts]
    assert any(t.kind == "withdrawal" and not t.counts for t in transfers)
    assert any(t.kind == "deposit" and not t.counts for t in transfers)


def test_advance_appends_consistent_trades() -> None:
    fresh = World()
    before = {a: len(t) for a, t in fresh.trades.items()}
    added = fresh.advance(4)
    assert added == {a.account_id: 4 for a in ACCOUNTS}
    for account_id, trades in fresh.trades.items():
        assert len(trades) == before[account_id] + 4
        assert all(t.time_ms > END_MS for t in trades[-4:])
        assert all(v >= 0 for v in fresh.computed_balances(account_id).values())


def test_five_venues_with_cross_venue_transfers_and_venue_prices(world: World) -> None:
    from sandbox.world import VENUES

    assert {a.venue for a in world.accounts.values()} == set(VENUES)
    crossing = [t for t in world.internal_transfers if t["from_venue"] != t["to_venue"]]
    assert len(crossing) >= 4 and all(t["fee"] != "0" for t in crossing)
    assert all(t["deposited_at_ms"] > t["withdrawn_at_ms"] for t in crossing)
    hour = world.prices.hours - 1
    closes = {m.venue: world.prices.market_close(m, hour) for v in VENUES for m in world.markets(v)
              if m.unified in ("BTC/USD", "BTC/USDT")}
    assert len(set(closes.values())) == len(closes) == 5  # every venue quotes its own price...
    assert max(closes.values()) / min(closes.values()) < 1.002  # ...within a few basis points


def test_keys_work_only_on_their_own_venue(world: World) -> None:
    kraken = world.venue_accounts("kraken")[0]
    key = world.credentials[kraken.account_id].api_key
    assert world.account_by_key(key, "kraken") == kraken.account_id
    assert world.account_by_key(key, "binance") is None


def test_one_withdrawal_pays_the_sanctioned_counterparty_and_nothing_else_does(world: World) -> None:
    """Issue 16 §2: the demo has exactly one screening hit — one withdrawal (that happened) to the planted address,
    which no other record of the world uses."""
    from sandbox.world import SANCTIONED_COUNTERPARTY

    tenant, account, address = SANCTIONED_COUNTERPARTY
    paying = [(a, t) for a, ts in world.transfers.items() for t in ts if t.address == address]
    assert [(a, t.kind, t.counts) for a, t in paying] == [(account, "withdrawal", True)]
    assert world.accounts[account].tenant_id == tenant
    assert world.truth()["sanctioned_counterparties"] == [
        {"tenant_id": tenant, "account_id": account, "withdrawal_id": paying[0][1].id, "asset": paying[0][1].coin,
         "amount": str(paying[0][1].amount), "address": address}]
    assert address not in json.dumps(world.chains.truth())
