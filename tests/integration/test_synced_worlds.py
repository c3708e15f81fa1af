"""tests/support.synced_world, the fixture factory the heavy modules share: a world asked for twice in one session
is synced once (the second module gets a copy of the template, not a second run); each copy is its own database
(a write in one is not in the other); the plant is replayed on each module's own sandbox exactly as the builder
planted it; the per-database settings PostgreSQL does not copy are set again. A small world: one HTX account,
synced with its market data, no transform (the factory's sharing, not the models, is under test)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest

from sandbox.world import WalletMove, World
from tests.support import WorldSpec, session_id, synced_world, world_template

pytestmark = pytest.mark.integration
ACCOUNT = "bluefin-htx"


def _plant(world: World, now_ms: int) -> WalletMove:
    return world.move_between_wallets(ACCOUNT, "USDT", Decimal("1234.5"), "futures", "out", now_ms - 86_400_000)


SPEC = WorldSpec(f"selftest{session_id()[:4]}", accounts=(ACCOUNT,), plant=_plant, transform=False)


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def test_a_world_asked_for_twice_is_synced_once_and_each_module_has_its_own_copy(
        cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    moves = ("select count(*), sum(amount) from raw.htx_transfers where account_id = %s "
             "and transfer_type = 'wallet_out'")
    with synced_world(cluster, SPEC, tmp_path_factory.mktemp("first")) as first:
        assert first.outcome is not None and first.outcome.success  # this call built it: one sync, market data
        assert {r.job for r in first.outcome.runs} == {"htx_account_sync", "market_data"}
        synced = _one(first.url, "select count(*) from raw.htx_trades where account_id = %s", ACCOUNT)
        assert synced[0] == len(first.sandbox.world.trades[ACCOUNT]) > 0
        assert _one(first.url, moves, ACCOUNT) == (1, first.planted.amount)
        with psycopg.connect(first.url) as conn:  # a write of the first module's
            conn.execute("insert into ops.tenants (tenant_id, name) values ('only-in-first', 'First')")
        with synced_world(cluster, SPEC, tmp_path_factory.mktemp("second")) as second:
            assert second.outcome is None and second.instance is None  # copied: no second run
            assert second.url != first.url
            assert second.planted == first.planted  # the same move, at the same time, with the same id
            assert second.sandbox.world.other_wallets(ACCOUNT) == {("futures", "USDT"): Decimal("1234.5")}
            assert _one(second.url, "select count(*) from raw.htx_trades where account_id = %s", ACCOUNT) == synced
            assert _one(second.url, moves, ACCOUNT) == (1, second.planted.amount)
            assert _one(second.url, "select count(*) from ops.tenants where tenant_id = 'only-in-first'") == (0,)
            name = _one(second.url, "select current_database()")[0]
            settings = _one(second.url, """select s.setconfig from pg_db_role_setting s
                                           join pg_database d on d.oid = s.setdatabase
                                           where d.datname = current_database() and s.setrole = 0""")
            assert settings == (["jit=off"],)
            assert _one(second.url, "select has_database_privilege('coinbook_pipeline', %s, 'create')",
                        name) == (True,)
    # the copies are dropped with their modules, the template stays for the rest of the session
    with psycopg.connect(cluster.admin_url("postgres")) as conn:
        left = {n for (n,) in conn.execute("select datname from pg_database").fetchall()}
    assert world_template(SPEC) in left and not {first.url.rsplit("/", 1)[1], name} & left
