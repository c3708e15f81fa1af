"""Earn and staking on the venues' own terms, end to end (sandbox over HTTP → sync → gate → dbt → marts).

Kraken Earn: coins allocated from spot to an Earn balance (ledger type `earn`, subtype allocation: one entry for
spot, one for the Earn balance under its own code, ETH.B, sharing the refid), a reward that compounds into that
balance and one paid to spot (earn / reward), and part deallocated back. The books hold the coins in Earn (held,
not disposed of), count each reward once as income, reconcile both balances Kraken reports to exactly zero
difference, and value the Earn balance as its coin. A second sync adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from sandbox.world import Reward, WalletMove, World
from tests.support import WorldSpec, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
KRAKEN = "acme-kraken"
COIN = "ETH"


def _plant_kraken_earn(world: World) -> dict[str, Any]:
    """Half the account's ETH into Kraken Earn (bonded: ETH.B), a reward compounding there and one paid to spot,
    then a fifth of what was allocated taken back: a minute apart, after the account's last trade, inside the
    world's price history (so the rewards have a daily close; Kraken serves its whole ledger)."""
    half = (world.computed_balances(KRAKEN)[COIN] / 2).quantize(Decimal("0.00000001"))
    moves: list[WalletMove] = [world.move_between_wallets(KRAKEN, COIN, half, "earn", "out")]
    rewards: list[Reward] = [world.pay_reward(KRAKEN, COIN, Decimal("0.0002153"), "earn"),
                             world.pay_reward(KRAKEN, COIN, Decimal("0.0000417"), "spot")]
    moves.append(world.move_between_wallets(KRAKEN, COIN, (half / 5).quantize(Decimal("0.00000001")), "earn", "in"))
    return {"moves": moves, "rewards": rewards}


# acme's main book (Binance main + Kraken) with Earn planted: one run shared with test_rebalancing, which needs
# that book (every assertion here is about the Kraken account alone)
WORLD = WorldSpec("acme_main_earn", accounts=("acme-binance-main", KRAKEN),
                  plant=lambda world, _now_ms: _plant_kraken_earn(world))


@pytest.fixture(scope="module")
def earned(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """A copy of its own: acme's Binance main and Kraken accounts registered, Earn planted, one nightly run."""
    with synced_world(cluster, WORLD, tmp_path_factory.mktemp("earn")) as synced:
        yield synced.url, synced.planted, synced.sandbox


def _query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def test_kraken_earn_reconciles_to_exactly_zero_with_coins_held_in_earn(earned: tuple[str, Any, Any]) -> None:
    url, planted, sandbox = earned
    world: World = sandbox.world
    earn_code = f"{COIN}.B"  # Kraken's code for the Earn balance, as ccxt passes it on
    in_earn = world.other_wallets(KRAKEN)[("earn", COIN)]
    allocated, back = planted["moves"][0].amount, planted["moves"][1].amount
    assert in_earn == allocated - back + planted["rewards"][0].amount  # the world's own arithmetic
    # both balances Kraken reports reconcile, exactly
    differences = dict(_query(url, "select asset, difference from marts.reconciliation where account_id = %s "
                                   "and asset in (%s, %s)", KRAKEN, COIN, earn_code))
    assert differences == {COIN: 0, earn_code: 0}, differences
    assert _query(url, "select asset, difference from marts.reconciliation where account_id = %s "
                       "and status = 'break'", KRAKEN) == []
    # positions: spot ETH as the world holds it, the Earn balance as its own row, valued as ETH
    held = {a: (q, p, alias) for a, q, p, alias in _query(
        url, "select asset, quantity, price_usd, priced_as from marts.positions where account_id = %s "
             "and asset in (%s, %s)", KRAKEN, COIN, earn_code)}
    assert held[COIN][0] == world.computed_balances(KRAKEN)[COIN]
    assert held[earn_code][0] == in_earn
    assert held[earn_code][2] == COIN and held[earn_code][1] == held[COIN][1] and held[COIN][1] is not None


def test_kraken_earn_moves_are_held_and_rewards_are_income_once(earned: tuple[str, Any, Any]) -> None:
    url, planted, _sandbox = earned
    earn_code = f"{COIN}.B"
    # allocation and deallocation: each balance's own entry, not a disposal
    legs = _query(url, """select asset, entry_type, leg, quantity, treatment from marts.ledger
                          where account_id = %s and entry_type in ('wallet_out', 'wallet_in')
                          order by occurred_at, asset""", KRAKEN)
    allocated, back = planted["moves"][0].amount, planted["moves"][1].amount
    assert legs == [(COIN, "wallet_out", "amount", -allocated, "venue_wallet"),
                    (earn_code, "wallet_in", "amount", allocated, "venue_wallet"),
                    (COIN, "wallet_in", "amount", back, "venue_wallet"),
                    (earn_code, "wallet_out", "amount", -back, "venue_wallet")], legs
    assert _query(url, """select count(*) from marts.ledger l
                          join intermediate.int_lot_events e on e.event_id = l.ledger_entry_id
                          where l.account_id = %s and l.treatment = 'venue_wallet'""", KRAKEN) == [(0,)]
    # the rewards: income, once each, in the balance they were paid to, acquired at a price (ETH's)
    income = _query(url, """select asset, quantity from marts.ledger where account_id = %s and treatment = 'income'
                            order by occurred_at""", KRAKEN)
    assert income == [(earn_code, planted["rewards"][0].amount), (COIN, planted["rewards"][1].amount)], income
    valued = _query(url, """select e.asset, e.kind, e.value_usd, round(e.quantity * p.close_usd, 2)
                            from intermediate.int_lot_events e
                            join marts.ledger l on l.ledger_entry_id = e.event_id
                            left join lateral (select d.close_usd from intermediate.int_prices_daily d
                                               where d.asset = %s and d.price_date <= cast(e.occurred_at as date)
                                               order by d.price_date desc limit 1) p on true
                            where l.account_id = %s and l.treatment = 'income' order by e.occurred_at""",
                    COIN, KRAKEN)
    assert [(a, k) for a, k, _, _ in valued] == [(earn_code, "acquire"), (COIN, "acquire")], valued
    # each at ETH's daily close of its day (to the cent, as lot values are kept): the Earn code is valued as its coin
    assert all(at_close is not None and value == at_close for _, _, value, at_close in valued), valued


def test_a_second_sync_of_kraken_earn_adds_nothing(earned: tuple[str, Any, Any], tmp_path: Any) -> None:
    from pipelines.services.accounts import account as load_account
    from pipelines.services.clients import ExchangeClients
    from pipelines.services.exchanges import sync_account_transfers

    url, planted, sandbox = earned
    count = "select count(*) from raw.kraken_transfers where account_id = %s and transfer_type in " \
            "('wallet_out', 'wallet_in', 'income')"
    (before,), = _query(url, count, KRAKEN)
    assert before == 2 * len(planted["moves"]) + len(planted["rewards"])  # an entry per balance changed
    clients = ExchangeClients(sandbox_url=sandbox.url, home=str(tmp_path), rate_limit=False)
    tenant = sandbox.world.accounts[KRAKEN].tenant_id
    call = sync_account_transfers(Warehouse(url), clients, load_account(Warehouse(url), f"{tenant}.{KRAKEN}"),
                                  "resync")
    assert call.inserted == 0
    assert _query(url, count, KRAKEN) == [(before,)]
