"""tests/support.synced_world, the fixture factory the heavy modules share: a world asked for twice in one session
is synced at most once (a later ask gets a copy of the template, not a run); each copy is its own database (a
write in one is not in the other); the plant is replayed on each module's own sandbox exactly as the builder
planted it; the per-database settings PostgreSQL does not copy are set again. On test_earn's world, so that in
`make test` this module costs two copies, not a run of its own (whichever of the three modules comes first
builds it)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.integration.test_earn import KRAKEN
from tests.integration.test_earn import WORLD as EARN_WORLD
from tests.support import synced_world, world_template

pytestmark = pytest.mark.integration


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def test_a_world_asked_for_twice_is_synced_at_most_once_and_each_module_has_its_own_copy(
        cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    trades = "select count(*) from raw.kraken_trades where account_id = %s"
    earn = "select count(*) from raw.kraken_transfers where account_id = %s and transfer_type = 'wallet_out'"
    with synced_world(cluster, EARN_WORLD, tmp_path_factory.mktemp("first")) as first:
        # built here (the first ask of the session) or copied (test_earn or test_rebalancing asked before)
        assert first.outcome is None or first.outcome.success
        synced = _one(first.url, trades, KRAKEN)
        assert synced[0] == len(first.sandbox.world.trades[KRAKEN]) > 0
        # each of the plant's moves (spot → Earn, Earn → spot) has one leg out, in the balance it leaves
        assert _one(first.url, earn, KRAKEN)[0] == len(first.planted["moves"]) == 2
        with psycopg.connect(first.url) as conn:  # a write of the first module's
            conn.execute("insert into ops.tenants (tenant_id, name) values ('only-in-first', 'First')")
        with synced_world(cluster, EARN_WORLD, tmp_path_factory.mktemp("second")) as second:
            assert second.outcome is None and second.instance is None  # copied: no second run
            assert second.url != first.url
            assert second.planted == first.planted  # the same moves and rewards, at the same times, same ids
            assert second.sandbox.world.other_wallets(KRAKEN) == first.sandbox.world.other_wallets(KRAKEN) != {}
            assert _one(second.url, trades, KRAKEN) == synced
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
    assert world_template(EARN_WORLD) in left and not {first.url.rsplit("/", 1)[1], name} & left
