"""Binance Simple Earn, end to end (sandbox over HTTP → sync → gate → dbt → marts), issue 15.

A Binance account puts half its ETH into a flexible product, earns a real-time reward (accrued in the product) and
a bonus tiered reward (paid to Spot), locks a quarter of what Spot has left in a locked product that pays a daily
reward to Spot, and redeems a fifth of the flexible subscription. Binance lists each in its Simple Earn history
(not in deposits, withdrawals or universal transfers), and the Earn balances only in flexible/locked position. The
books hold the coins in Earn (held, not disposed of: no lot event), count each reward once as income, reconcile
Spot and both Earn wallets to exactly zero difference, and a second sync adds nothing. The Binance statement of the
same days (Simple Earn lines included) imported too: its rewards are the API's, counted once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sandbox.binance import EARN_FLEXIBLE, EARN_LOCKED
from sandbox.world import Reward, WalletMove, World
from tests.support import WorldSpec, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
ACCOUNT = "acme-binance-main"
COIN = "ETH"
EIGHT = Decimal("0.00000001")


def _plant_earn(world: World) -> dict[str, Any]:
    """The account's Simple Earn activity, a minute apart after its last event (inside the price history)."""
    half = (world.computed_balances(ACCOUNT)[COIN] / 2).quantize(EIGHT)
    flexible_in = world.move_between_wallets(ACCOUNT, COIN, half, EARN_FLEXIBLE, "out")
    realtime = world.pay_reward(ACCOUNT, COIN, Decimal("0.00021537"), EARN_FLEXIBLE, product="flexible")
    bonus = world.pay_reward(ACCOUNT, COIN, Decimal("0.00004170"), "spot", product="flexible")
    quarter = (world.computed_balances(ACCOUNT)[COIN] / 4).quantize(EIGHT)
    locked_in = world.move_between_wallets(ACCOUNT, COIN, quarter, EARN_LOCKED, "out")
    locked_reward = world.pay_reward(ACCOUNT, COIN, Decimal("0.00003125"), "spot", product="locked")
    flexible_out = world.move_between_wallets(ACCOUNT, COIN, (half / 5).quantize(EIGHT), EARN_FLEXIBLE, "in")
    moves: list[WalletMove] = [flexible_in, locked_in, flexible_out]
    rewards: list[Reward] = [realtime, bonus, locked_reward]
    return {"moves": moves, "rewards": rewards}


def _statement(path: Path, planted: dict[str, Any]) -> Path:
    """The Binance transaction-history statement of those days, as Binance writes it (User_ID,UTC_Time,Account,
    Operation,Coin,Change,Remark; a subscription is two lines, Spot − and Earn +; flexible interest in Earn)."""
    from datetime import UTC, datetime

    def at(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")

    flexible_in, locked_in, flexible_out = planted["moves"]
    realtime, bonus, locked_reward = planted["rewards"]
    lines = ["User_ID,UTC_Time,Account,Operation,Coin,Change,Remark",
             f"39154728,{at(flexible_in.time_ms)},Spot,Simple Earn Flexible Subscription,ETH,-{flexible_in.amount},",
             f"39154728,{at(flexible_in.time_ms)},Earn,Simple Earn Flexible Subscription,ETH,{flexible_in.amount},",
             f"39154728,{at(realtime.time_ms)},Earn,Simple Earn Flexible Interest,ETH,{realtime.amount},",
             f"39154728,{at(bonus.time_ms)},Spot,Simple Earn Flexible Interest,ETH,{bonus.amount},",
             f"39154728,{at(locked_in.time_ms)},Spot,Simple Earn Locked Subscription,ETH,-{locked_in.amount},",
             f"39154728,{at(locked_reward.time_ms)},Spot,Simple Earn Locked Rewards,ETH,{locked_reward.amount},",
             f"39154728,{at(flexible_out.time_ms)},Earn,Simple Earn Flexible Redemption,ETH,-{flexible_out.amount},",
             f"39154728,{at(flexible_out.time_ms)},Spot,Simple Earn Flexible Redemption,ETH,{flexible_out.amount},"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import_statement(wh: Warehouse, planted: dict[str, Any], tmp: Path) -> None:
    """Before the run, as a user who imports the statement first and syncs the API later would."""
    from pipelines.services.imports import import_file

    import_file(wh, _statement(tmp / "binance_statement.csv", planted), ACCOUNT)


# a world of its own: Binance Earn planted on acme's main account and its statement imported before the run (no
# other synced world can take both without another whole transform: see tests/README.md)
WORLD = WorldSpec("binance_earn", accounts=(ACCOUNT,), plant=lambda world, _now_ms: _plant_earn(world),
                  prepare=_import_statement)


@pytest.fixture(scope="module")
def earned(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """A copy of its own: the Binance account registered, Earn planted, its statement imported, one nightly run."""
    with synced_world(cluster, WORLD, tmp_path_factory.mktemp("binance_earn")) as synced:
        yield synced.url, synced.planted, synced.sandbox


def _query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def test_binance_earn_reconciles_to_exactly_zero_with_coins_held_in_earn(earned: tuple[str, Any, Any]) -> None:
    url, planted, sandbox = earned
    world: World = sandbox.world
    flexible_in, locked_in, flexible_out = planted["moves"]
    realtime = planted["rewards"][0]
    in_flexible = world.other_wallets(ACCOUNT)[(EARN_FLEXIBLE, COIN)]
    in_locked = world.other_wallets(ACCOUNT)[(EARN_LOCKED, COIN)]
    assert in_flexible == flexible_in.amount - flexible_out.amount + realtime.amount  # the world's own arithmetic
    assert in_locked == locked_in.amount
    # Binance reports the Earn wallets apart from Spot: both stored, as balances of their wallet
    stored = dict(_query(url, """select payload->>'wallet', total from raw.binance_balances
                                 where account_id = %s and asset = %s and payload ? 'wallet'""", ACCOUNT, COIN))
    assert stored == {"binance:earn_flexible": in_flexible, "binance:earn_locked": in_locked}, stored
    # Spot and Earn together reconcile, exactly; nothing breaks in the account
    (row,) = _query(url, "select reported_quantity, computed_quantity, difference from marts.reconciliation "
                         "where account_id = %s and asset = %s", ACCOUNT, COIN)
    assert row == (world.reported_balances(ACCOUNT)[COIN] + in_flexible + in_locked,) * 2 + (0,), row
    assert _query(url, "select asset, difference from marts.reconciliation where account_id = %s "
                       "and status = 'break'", ACCOUNT) == []
    # positions: Spot ETH as the world holds it, each Earn wallet as its own row (held, not gone)
    held = dict(((p or "spot"), q) for p, q in _query(
        url, "select protocol, quantity from marts.positions where account_id = %s and asset = %s", ACCOUNT, COIN))
    assert held == {"spot": world.computed_balances(ACCOUNT)[COIN], "binance:earn_flexible": in_flexible,
                    "binance:earn_locked": in_locked}, held


def test_binance_earn_moves_are_held_and_rewards_are_income_once(earned: tuple[str, Any, Any]) -> None:
    url, planted, _sandbox = earned
    flexible_in, locked_in, flexible_out = planted["moves"]
    realtime, bonus, locked_reward = planted["rewards"]
    legs = _query(url, """select entry_type, leg, quantity, counter_asset, treatment from marts.ledger
                          where account_id = %s and treatment = 'venue_wallet' order by occurred_at, entry_type, leg""",
                  ACCOUNT)
    flexible, locked = "binance:earn_flexible", "binance:earn_locked"
    assert legs == [("wallet_out", "amount", -flexible_in.amount, flexible, "venue_wallet"),
                    ("wallet_out", "held", flexible_in.amount, flexible, "venue_wallet"),
                    # the real-time reward accrues in the flexible product: income, then held there
                    ("wallet_out", "amount", -realtime.amount, flexible, "venue_wallet"),
                    ("wallet_out", "held", realtime.amount, flexible, "venue_wallet"),
                    ("wallet_out", "amount", -locked_in.amount, locked, "venue_wallet"),
                    ("wallet_out", "held", locked_in.amount, locked, "venue_wallet"),
                    ("wallet_in", "amount", flexible_out.amount, flexible, "venue_wallet"),
                    ("wallet_in", "held", -flexible_out.amount, flexible, "venue_wallet")], legs
    assert _query(url, """select count(*) from marts.ledger l
                          join intermediate.int_lot_events e on e.event_id = l.ledger_entry_id
                          where l.account_id = %s and l.treatment = 'venue_wallet'""", ACCOUNT) == [(0,)]
    # each reward income once — the API's, though the statement lists them too — acquired at ETH's daily close
    income = _query(url, """select source, quantity from marts.ledger where account_id = %s and treatment = 'income'
                            order by occurred_at""", ACCOUNT)
    assert income == [("binance", realtime.amount), ("binance", bonus.amount), ("binance", locked_reward.amount)]
    valued = _query(url, """select e.kind, e.value_usd, round(e.quantity * p.close_usd, 2)
                            from intermediate.int_lot_events e
                            join marts.ledger l on l.ledger_entry_id = e.event_id
                            left join lateral (select d.close_usd from intermediate.int_prices_daily d
                                               where d.asset = %s and d.price_date <= cast(e.occurred_at as date)
                                               order by d.price_date desc limit 1) p on true
                            where l.account_id = %s and l.treatment = 'income' order by e.occurred_at""",
                    COIN, ACCOUNT)
    assert [k for k, _, _ in valued] == ["acquire"] * 3 and all(v == c and c is not None for _, v, c in valued), valued


def test_the_statement_of_the_same_days_adds_nothing(earned: tuple[str, Any, Any], tmp_path: Path) -> None:
    from warehouse.files import already_synced

    url, planted, _sandbox = earned
    # the import the world's build made (ops.imports keeps its tally): the statement of this module's own plant,
    # byte for byte (the plant replayed), imported once
    sha = hashlib.sha256(_statement(tmp_path / "binance_statement.csv", planted).read_bytes()).hexdigest()
    imports = _query(url, "select file_sha256, rows_in, lines_loaded, ignored, quarantined from ops.imports "
                          "where account_id = %s", ACCOUNT)
    # 8 lines: 3 rewards read (income), 5 Spot ↔ Earn lines ignored (they change no holding)
    assert imports == [(sha, 8, 3, 5, 0)], imports
    tenant = _query(url, "select tenant_id from ops.accounts where account_id = %s", ACCOUNT)[0][0]
    assert already_synced(Warehouse(url), tenant_id=tenant, account_id=ACCOUNT, venue="binance",
                          file_sha256=sha) == 3
    assert _query(url, """select count(*) from intermediate.int_ledger where account_id = %s
                          and source like 'csv:%%'""", ACCOUNT) == [(0,)]


def test_a_second_sync_of_binance_earn_adds_nothing(earned: tuple[str, Any, Any], tmp_path: Any) -> None:
    from pipelines.services.accounts import account as load_account
    from pipelines.services.clients import ExchangeClients
    from pipelines.services.exchanges import sync_account_transfers, sync_balances

    url, planted, sandbox = earned
    earn_rows = """select count(*) from raw.binance_transfers where account_id = %s
                   and (transfer_id like 'flexible_%%' or transfer_id like 'locked_%%')"""
    (before,), = _query(url, earn_rows, ACCOUNT)
    # a row per Spot move: 3 moves, 3 rewards, and the real-time reward's move into the product
    assert before == len(planted["moves"]) + len(planted["rewards"]) + 1
    (balances,), = _query(url, "select count(*) from raw.binance_balances where account_id = %s", ACCOUNT)
    clients = ExchangeClients(sandbox_url=sandbox.url, home=str(tmp_path), rate_limit=False)
    tenant = sandbox.world.accounts[ACCOUNT].tenant_id
    wh = Warehouse(url)
    one = load_account(wh, f"{tenant}.{ACCOUNT}")
    assert sync_account_transfers(wh, clients, one, "resync").inserted == 0
    assert sync_balances(wh, clients, one, "resync").inserted == 0
    assert _query(url, earn_rows, ACCOUNT) == [(before,)]
    assert _query(url, "select count(*) from raw.binance_balances where account_id = %s", ACCOUNT) == [(balances,)]
