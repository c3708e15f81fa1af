"""The schema is distributable by tenant with Citus (issue 17 §4, deploy/citus.md): every table of a migrated
warehouse has a placement, every unique key and foreign key of a distributed table carries its distribution
column, and deploy/citus.md holds exactly the calls the catalog gives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from warehouse import citus
from warehouse.cluster import LocalCluster

pytestmark = pytest.mark.integration
PLAN_FILE = Path(__file__).resolve().parents[2] / "deploy" / "citus.md"


@pytest.fixture()
def migrated(cluster: LocalCluster) -> Iterator[str]:
    name = f"coinbook_citus_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    yield cluster.url(name)
    cluster.drop_database(name)


def test_every_table_is_placed_and_citus_would_accept_the_schema(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        planned = citus.plan(conn)
        assert citus.problems(conn, planned) == []
        assert {p.table for p in planned} == set(citus.tables(conn))
    by_table = {p.table: p for p in planned}
    assert by_table["raw.binance_trades"] == citus.TablePlan("raw.binance_trades", "distributed", "tenant_id")
    assert by_table["audit.chain"].column == "tenant_id" and by_table["ops.cost_basis"].column == "tenant_id"
    assert by_table["raw.price_ticks"] == citus.TablePlan("raw.price_ticks", "distributed", "source")
    assert {t for t, p in by_table.items() if p.placement == "reference"} >= {
        "ops.tenants", "ops.user_tenants", "raw.kraken_tickers", "raw.kraken_ohlcv"}
    assert by_table["ops.schema_migrations"].placement == "local"


def test_the_plan_in_deploy_is_the_one_the_catalog_gives(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        block = citus.render(citus.plan(conn), citus.foreign_keys(conn))
    text = PLAN_FILE.read_text()
    assert block in text, "deploy/citus.md is stale: paste `coinbook warehouse citus-plan` into it"
    lines = block.splitlines()
    # a table comes after the tables its foreign keys point at
    assert lines.index("select create_distributed_table('ops.portfolios', 'tenant_id');") < \
        lines.index("select create_distributed_table('ops.accounts', 'tenant_id');")
    assert lines.index("select create_reference_table('ops.tenants');") < \
        lines.index("select create_distributed_table('ops.portfolios', 'tenant_id');")


def test_what_citus_would_refuse_is_named(migrated: str) -> None:
    """The checks can fail: a key without tenant_id, a foreign key off the distribution column, a reference
    table pointing at a distributed one, a table with no tenant_id and no rule."""
    with psycopg.connect(migrated) as conn:
        conn.execute("create table ops.bad_keys (tenant_id text not null, id text primary key, ref text unique)")
        conn.execute("create table ops.bad_refs (tenant_id text not null, other text not null, alert_id bigint, "
                     "primary key (tenant_id, other), "
                     "foreign key (other, alert_id) references ops.alerts (tenant_id, alert_id))")
        conn.execute("create table raw.nowhere_tickers (tenant_id text not null, alert_id bigint, "
                     "foreign key (tenant_id, alert_id) references ops.alerts (tenant_id, alert_id))")
        conn.execute("create table ops.no_tenant (id int primary key)")
        with pytest.raises(ValueError, match=r"ops\.no_tenant has no tenant_id"):
            citus.plan(conn)
        conn.execute("drop table ops.no_tenant")
        found = {(p.table, p.problem) for p in citus.problems(conn, citus.plan(conn))}
    assert found == {
        ("ops.bad_keys", "unique index ops.bad_keys_pkey (id) lacks tenant_id"),
        ("ops.bad_keys", "unique index ops.bad_keys_ref_key (ref) lacks tenant_id"),
        ("ops.bad_refs", "foreign key to ops.alerts not on the distribution column"),
        ("raw.nowhere_tickers", "foreign key to distributed ops.alerts from a reference table")}
