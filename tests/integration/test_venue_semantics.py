"""Each venue's withdrawal semantics, end to end: one account per venue sends a whole balance out (the amount
plus its network fee is everything it held of that coin), and the real pipeline (ccxt over HTTP against the
sandbox, the gate, dbt) must find exactly zero left, computed and reported alike. The venue-by-venue facts
(README, "What each venue's API means") decide how each dialect writes that withdrawal: Coinbase's v2 amount is
the wallet's whole debit, fee included; Binance, Kraken, Bitfinex and HTX give the amount sent and the fee beside
it. The expected figures come from the sandbox's world, never from the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from pipelines.services.venues import SEED_VENUES
from sandbox import kraken
from sandbox.world import VENUE_CASH, Transfer, WalletMove, World
from tests.support import WorldSpec, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
ACCOUNTS = {"binance": "acme-binance-ops", "coinbase": "acme-coinbase", "kraken": "acme-kraken",
            "bitfinex": "bluefin-bitfinex", "htx": "bluefin-htx"}  # one per venue, none with the seeded break


# Per venue, its own names for two other wallets of the account: the cash goes whole to the first and comes back
# (out and back), then 40 % goes to the second and stays there.
OTHER_WALLETS = {"binance": ("FUNDING", "UMFUTURE"), "kraken": ("staking", "futures"),
                 "bitfinex": ("funding", "margin"), "htx": ("futures", "margin"),
                 "coinbase": ("exchange", "derivatives")}


def _moved(world: World, now_ms: int) -> dict[str, list[WalletMove]]:
    """Per account: its cash moved whole to another wallet of the venue and back, then 40 % left in a third.
    Recent (a day before the world was synced): Binance serves the last 6 months of moves only."""
    out = {}
    at = now_ms - 86_400_000
    for venue, (round_trip, kept) in OTHER_WALLETS.items():
        account, cash = ACCOUNTS[venue], VENUE_CASH[venue]
        whole = world.computed_balances(account)[cash]
        moves = [world.move_between_wallets(account, cash, whole, round_trip, "out", at),
                 world.move_between_wallets(account, cash, whole, round_trip, "in"),
                 world.move_between_wallets(account, cash, (whole * Decimal("0.4")).quantize(Decimal("0.01")),
                                            kept, "out")]
        out[account] = moves
    return out


def _emptied(world: World) -> dict[str, tuple[Transfer, Decimal]]:
    """Per account: its largest non-cash coin sent out whole (the withdrawal, and the balance it emptied)."""
    out = {}
    for venue, account in ACCOUNTS.items():
        held = {c: q for c, q in world.computed_balances(account).items() if c != VENUE_CASH[venue] and q > 1}
        coin = max(held, key=lambda c: held[c] * Decimal(world.prices.coin_usd(c, world.prices.hours - 1)))
        out[account] = (world.withdraw_all(account, coin), held[coin])
    return out


def _plant(world: World, now_ms: int) -> tuple[dict[str, tuple[Transfer, Decimal]], dict[str, list[WalletMove]]]:
    moved = _moved(world, now_ms)
    return _emptied(world), moved


SPEC = WorldSpec("semantics", accounts=tuple(ACCOUNTS.values()), plant=_plant)


@pytest.fixture(scope="module")
def emptied(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """Its own database: the five accounts registered, each emptied of one coin, then one nightly run."""
    with synced_world(cluster, SPEC, tmp_path_factory.mktemp("semantics")) as synced:
        sent, moved = synced.planted
        WORLD["world"] = synced.sandbox.world
        yield synced.url, sent, moved, synced.sandbox


WORLD: dict[str, Any] = {}  # the emptied world, for tests that compare with it


@pytest.fixture
def sandbox_world(emptied: tuple[str, Any, Any, Any]) -> Any:
    return WORLD["world"]


def _query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


@pytest.mark.parametrize("venue", list(ACCOUNTS))
def test_a_whole_balance_sent_out_reconciles_to_exactly_zero(emptied: tuple[str, dict[str, Any]],
                                                           venue: str) -> None:
    url, sent, _, _ = emptied
    account = ACCOUNTS[venue]
    transfer, balance = sent[account]
    assert transfer.amount + transfer.fee == balance  # the world's own arithmetic: nothing left
    # the withdrawal as the ledger booked it: the amount sent and its fee, once each
    legs = dict(_query(url, """select entry_type, sum(quantity) from intermediate.int_ledger
                               where account_id = %s and asset = %s and txid = %s group by 1""",
                       account, transfer.coin, transfer.tx_id))
    assert legs == {"withdrawal": -transfer.amount, "withdrawal_fee": -transfer.fee}, legs
    (computed,), = _query(url, "select coalesce(sum(quantity), 0) from intermediate.int_ledger "
                               "where account_id = %s and asset = %s", account, transfer.coin)
    assert computed == 0  # exactly, not within a tolerance
    reported = _query(url, """select b.total from intermediate.int_reported_balances b
                              where b.account_id = %s and b.asset = %s
                              order by b.observed_at desc limit 1""", account, transfer.coin)
    assert reported in ([], [(Decimal(0),)])  # the venue reports zero (or no longer lists the coin)
    # both zero: nothing to reconcile for that coin, and no break anywhere in these five accounts
    assert _query(url, "select * from marts.reconciliation where account_id = %s and asset = %s",
                  account, transfer.coin) == []
    assert _query(url, "select asset, difference from marts.reconciliation where account_id = %s "
                       "and status = 'break'", account) == []
    assert _query(url, "select 1 from marts.positions where account_id = %s and asset = %s",
                  account, transfer.coin) == []


@pytest.mark.parametrize("venue", list(OTHER_WALLETS))
def test_moves_between_the_venues_own_wallets_reconcile_and_stay_held(emptied: tuple[str, Any, Any, Any],
                                                                     venue: str) -> None:
    """Cash sent whole to another wallet and back, then 40 % left in a third: the spot balance reconciles to
    exactly zero difference, positions show what sits in the other wallet as held there, nothing is disposed of."""
    url, _sent, moved, sandbox = emptied
    account = ACCOUNTS[venue]
    moves: list[WalletMove] = moved[account]
    cash, kept = moves[0].coin, moves[-1]
    # the ledger's spot legs: out, back, out again — once each
    spot = _query(url, """select entry_type, quantity from intermediate.int_ledger
                          where account_id = %s and asset = %s and leg = 'amount'
                            and entry_type in ('wallet_out', 'wallet_in')
                          order by occurred_at, entry_type desc""", account, cash)
    assert spot == [(("wallet_out" if m.direction == "out" else "wallet_in"),
                     -m.amount if m.direction == "out" else m.amount) for m in moves], spot
    # reconciliation: the spot balance the venue reports equals the ledger's, exactly
    (difference,), = _query(url, "select difference from marts.reconciliation where account_id = %s and asset = %s",
                            account, cash)
    assert difference == 0
    # positions: the spot holding (the world's spot balance), and what stays in the other wallet, as held there
    world = sandbox.world
    held = dict(_query(url, """select coalesce(protocol, 'spot'), quantity from marts.positions
                               where account_id = %s and asset = %s""", account, cash))
    other = f"{venue}:{kept.wallet.lower()}"
    assert held == {"spot": world.computed_balances(account)[cash],
                    other: world.other_wallets(account)[(kept.wallet, cash)]}, held
    assert _query(url, "select position_type from marts.positions where account_id = %s and protocol = %s",
                  account, other) == [("venue_wallet",)]
    # not a disposal: no lot event, no realized gain from any move
    assert _query(url, """select count(*) from marts.ledger l
                          join intermediate.int_lot_events e on e.event_id = l.ledger_entry_id
                          where l.account_id = %s and l.treatment = 'venue_wallet'""", account) == [(0,)]
    assert {t for (t,) in _query(url, "select distinct treatment from marts.ledger where account_id = %s "
                                      "and entry_type in ('wallet_out', 'wallet_in')", account)} == {"venue_wallet"}


@pytest.mark.parametrize("venue", list(OTHER_WALLETS))
def test_a_second_sync_of_wallet_moves_adds_nothing(emptied: tuple[str, Any, Any, Any], venue: str,
                                                    tmp_path: Any) -> None:
    from pipelines.services.accounts import account as load_account
    from pipelines.services.clients import ExchangeClients
    from pipelines.services.exchanges import sync_account_transfers

    url, _sent, moved, sandbox = emptied
    account = ACCOUNTS[venue]
    count = (f"select count(*) from raw.{venue}_transfers where account_id = %s "
             "and transfer_type in ('wallet_out', 'wallet_in')")
    (before,), = _query(url, count, account)
    # one record per move on Binance; on Kraken one ledger entry per wallet whose balance changed
    assert before == sum(len(kraken.ledger_entries(m)) if venue == "kraken" else 1 for m in moved[account])
    clients = ExchangeClients(sandbox_url=sandbox.url, home=str(tmp_path), rate_limit=False)
    tenant = sandbox.world.accounts[account].tenant_id
    call = sync_account_transfers(Warehouse(url), clients, load_account(Warehouse(url), f"{tenant}.{account}"),
                                  "resync")
    assert call.inserted == 0
    assert _query(url, count, account) == [(before,)]


def test_coinbase_fills_in_the_transaction_list_are_booked_once(emptied: tuple[str, Any, Any, Any],
                                                                sandbox_world: Any) -> None:
    """Coinbase's v2 list carries every fill (once in each wallet it moves): kept in raw as `fill`, never a
    transfer in the ledger, nothing quarantined, and every coin's computed balance is the world's."""
    url, *_ = emptied
    account = ACCOUNTS["coinbase"]
    (fills, quarantined), = _query(
        url, """select count(*) filter (where transfer_type = 'fill'),
                       (select count(*) from ops.quarantine where raw_table = 'raw.coinbase_transfers')
                from raw.coinbase_transfers where account_id = %s""", account)
    assert (fills, quarantined) == (2 * len(sandbox_world.trades[account]), 0)
    booked = _query(url, """select count(*) from intermediate.int_ledger l
                            join raw.coinbase_transfers r using (tenant_id, account_id, source, source_record_id)
                            where l.account_id = %s and r.transfer_type = 'fill'""", account)
    assert booked == [(0,)]
    # the spot wallet's legs (the coins the account's moves left in its other Coinbase accounts are 'held' legs)
    computed = dict(_query(url, "select asset, sum(quantity) from intermediate.int_ledger where account_id = %s "
                                "and leg <> 'held' group by asset having sum(quantity) <> 0", account))
    assert computed == {c: q for c, q in sandbox_world.computed_balances(account).items() if q != 0}


def test_a_binance_statement_over_the_synced_period_changes_no_balance(emptied: tuple[str, Any, Any, Any],
                                                                       sandbox_world: Any, tmp_path: Any) -> None:
    """The Binance statement of an account the API synced (its fills, deposits, and withdrawals as their whole
    debit, as the website exports it) is imported on top: the report says every record was already synced, and
    the ledger rebuilt afterwards holds exactly what it held (no trade, deposit or withdrawal counted twice)."""
    import os
    import subprocess
    from pathlib import Path

    from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
    from pipelines.services.imports import import_file
    from pipelines.services.venues import dbt_vars
    from sandbox.exports import binance_statement_csv

    url, *_ = emptied
    account = ACCOUNTS["binance"]
    balances = ("select asset, sum(quantity), count(*) from intermediate.int_ledger where account_id = %s "
                "group by asset order by asset")
    before = _query(url, balances, account)
    path = Path(tmp_path) / "Binance-statement.csv"
    path.write_text(binance_statement_csv(sandbox_world, account), encoding="utf-8")
    outcome = import_file(Warehouse(url), path, account)
    assert outcome.quarantined == 0 and outcome.records > 0
    assert outcome.already_synced == outcome.records  # every trade, deposit and withdrawal of it
    project = Path(__file__).resolve().parents[2] / "dbt_project"
    target = ensure_parsed(project, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "statement")}
    (target / "statement").mkdir(exist_ok=True)
    (target / "statement" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    done = subprocess.run([dbt_executable(), "build", "--select", "+int_ledger", "--exclude-resource-type", "test",
                           "--exclude-resource-type", "unit_test", "--project-dir", str(project), "--profiles-dir",
                           str(project), "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=project,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-4000:]
    assert _query(url, "select count(*) from raw.file_records where account_id = %s", account) == [(outcome.records,)]
    assert _query(url, balances, account) == before
