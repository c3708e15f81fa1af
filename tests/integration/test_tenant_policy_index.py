"""The tenant policy is an index condition (V042): a reader's query without a tenant filter of its own reads its
own tenants' rows through a tenant_id-leading index, not every tenant's rows filtered one by one. bench_reads found
the older form (`tenant_id = 'public' or tenant_id in (select …)`, an OR with a hashed subplan) read all rows."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pipelines.services.users import add_user
from tests.support import admin_warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(cluster: Any) -> Iterator[str]:
    name = f"coinbook_policy_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    url = cluster.url(name)
    with psycopg.connect(url) as conn:
        for tenant in ("alpha", "beta"):
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (tenant, tenant.title()))
        conn.execute("insert into ops.cost_basis (tenant_id, entry_id, cost) "
                     "select 'beta', 'e' || i, i from generate_series(1, 3000) i")
        conn.execute("insert into ops.cost_basis (tenant_id, entry_id, cost) values ('alpha', 'a1', 1), "
                     "('alpha', 'a2', 2)")
        conn.execute("analyze ops.cost_basis")
    yield url
    cluster.drop_database(name)


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_readers_unfiltered_query_uses_the_tenant_index_and_sees_only_its_tenant(database: str) -> None:
    admin = admin_warehouse(database)
    login = f"policy_{uuid.uuid4().hex[:6]}"
    password = add_user(admin, login, "auditor", ["alpha"])
    with psycopg.connect(make_conninfo(database, user=login, password=password)) as conn:
        rows = conn.execute("select tenant_id, entry_id from ops.cost_basis order by entry_id").fetchall()
        assert rows == [("alpha", "a1"), ("alpha", "a2")]
        conn.execute("set enable_seqscan = off")  # the question is whether an index *can* serve the policy
        (plan,) = conn.execute("explain (format json) select * from ops.cost_basis").fetchone()
    nodes = list(_plan_nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]))
    conditions = [n.get("Index Cond", "") + n.get("Recheck Cond", "") for n in nodes]
    assert any("tenant_id" in c for c in conditions), nodes
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes), nodes
