"""An account that also trades Bitfinex's BTC perpetual, synced over ccxt against the sandbox (derivatives on): its
perp fills and its margin wallet are set aside in raw.exchange_derivatives and counted as ignored, the trades gate
is not tripped, and its spot books are exactly what they are without them. The sandbox's perp fills follow the
layouts ccxt's bitfinex reads (sandbox/bitfinex.py: pair 'BTCF0:USTF0', signed amounts, FEE > 0 for a maker
rebate, a 'margin' wallet in USTF0)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from expectations.gate import run_gate
from pipelines.services.accounts import account, register_accounts, specs_from_sandbox
from pipelines.services.clients import ExchangeClients
from pipelines.services.exchanges import sync_account_trades, sync_balances
from sandbox import bitfinex
from sandbox.server import SandboxServer
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse
from warehouse.migrate import apply_migrations

pytestmark = pytest.mark.integration
TENANT, ACCOUNT = "bluefin", bitfinex.PERP_ACCOUNT


@pytest.fixture(scope="module")
def world(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SandboxServer]]:
    name = f"coinbook_deriv_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    apply_migrations(url)
    with SandboxServer(port=0) as sandbox:
        sandbox.set_faults(derivatives=True)
        register_accounts(Warehouse(url), [s for s in specs_from_sandbox(sandbox.url) if s.account_id == ACCOUNT])
        yield url, sandbox
    cluster.drop_database(name)


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _profile(url: str, derivatives: bool) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("update ops.accounts set settings = settings || jsonb_build_object('derivatives', %s::boolean) "
                     "where tenant_id = %s and account_id = %s", (derivatives, TENANT, ACCOUNT))


def test_perp_fills_are_set_aside_counted_and_the_gate_is_not_tripped(world: tuple[str, SandboxServer],
                                                                       tmp_path: Any) -> None:
    url, sandbox = world
    wh = Warehouse(url)
    clients = ExchangeClients(sandbox_url=sandbox.url, home=str(tmp_path), rate_limit=False)
    perps = bitfinex.perp_fills(sandbox.world, ACCOUNT)
    spot = sandbox.world.trades[ACCOUNT]
    assert len(perps) > 0.05 * len(spot), "enough perp fills to hold the account back if they were quarantined"

    call = sync_account_trades(wh, clients, account(wh, f"{TENANT}.{ACCOUNT}"), "run-1")
    assert call.ignored == {"derivatives": len(perps)}

    # spot: exactly the world's fills, none of them a derivative
    stored = _query(url, "select source_record_id, symbol from raw.bitfinex_trades where account_id = %s", (ACCOUNT,))
    assert len(stored) == len(spot) and not [s for _, s in stored if ":" in s]
    # derivatives: every perp fill, whole, in contracts with the market's contract size; rebates kept as given
    kept = _query(url, "select market_type, symbol, unified, payload from raw.exchange_derivatives "
                       "where account_id = %s and entity = 'trades'", (ACCOUNT,))
    assert len(kept) == len(perps) and {(m, s) for m, s, _, _ in kept} == {("swap", "BTC/USDT:USDT")}
    assert {str(p[0]) for _, _, _, p in kept} == {str(r[0]) for r in perps}
    assert all(u["contractSize"] == "1" and u["settle"] == "USDT" for _, _, u, _ in kept)
    rebates = [u for _, _, u, _ in kept if u["takerOrMaker"] == "maker"]
    assert rebates and all(u["fee"]["cost"].startswith("-") for u in rebates)
    # the sync log says what was set aside, per account
    (ignored,), = _query(url, "select ignored from ops.sync_log where account_id = %s and endpoint = 'trades'",
                         (ACCOUNT,))
    assert ignored == {"derivatives": len(perps)}

    gate = run_gate(url, "raw.bitfinex_trades", "run-1", reuse=False)
    assert gate.passed and not gate.held, gate.to_dict()
    assert _query(url, "select count(*) from ops.quarantine where raw_table = 'raw.bitfinex_trades'") == [(0,)]

    again = sync_account_trades(wh, clients, account(wh, f"{TENANT}.{ACCOUNT}"), "run-2")
    assert again.inserted == 0
    assert _query(url, "select count(*) from raw.exchange_derivatives where entity = 'trades'") == [(len(perps),)]


def test_only_a_derivatives_account_reads_its_margin_wallet(world: tuple[str, SandboxServer], tmp_path: Any) -> None:
    url, sandbox = world
    wh = Warehouse(url)
    clients = ExchangeClients(sandbox_url=sandbox.url, home=str(tmp_path), rate_limit=False)
    wallets = "select asset, unified->>'total' from raw.exchange_derivatives where entity = 'balances'"

    _profile(url, False)  # spot only: the derivatives wallet is never asked for
    spot_only = sync_balances(wh, clients, account(wh, f"{TENANT}.{ACCOUNT}"), "run-3")
    assert spot_only.ignored == {} and _query(url, wallets) == []
    spot_assets = {a for (a,) in _query(url, "select distinct asset from raw.bitfinex_balances")}

    _profile(url, True)
    with_derivatives = sync_balances(wh, clients, account(wh, f"{TENANT}.{ACCOUNT}"), "run-4")
    assert with_derivatives.ignored == {"derivatives": 1}
    assert _query(url, wallets) == [("USDT", str(float(bitfinex.PERP_COLLATERAL)))]
    # the spot balances are what they were: the margin wallet's USDT is not added to the spot USDT
    assert {a for (a,) in _query(url, "select distinct asset from raw.bitfinex_balances")} == spot_assets
    assert run_gate(url, "raw.bitfinex_balances", "run-4", reuse=False).passed
