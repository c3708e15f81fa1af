"""What each dbt node was last built on (ops.dbt_node_builds, V049; its definition and a test's SQL, V050).

The transform keeps a model whose inputs are what they were at its last successful build (see
pipelines/services/dbt_reuse.py); this module only reads and writes the record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class NodeBuild:
    signature: str
    status: str            # dbt's: success (model, seed) | pass | warn | fail (test)
    failures: int | None
    run_id: str | None
    definition: str | None = None   # its signature without the data (model_reuse.definition_signatures)
    compiled_sql: str | None = None  # a test's SQL as dbt compiled it for that definition


def node_builds(conn: psycopg.Connection, tenant_id: str) -> dict[str, NodeBuild]:
    """The nodes' records, kept under the operator's tenant (the caller's pipelines.constants.PUBLIC_TENANT)."""
    rows = conn.execute("""select unique_id, signature, status, failures, run_id, definition, compiled_sql
                           from ops.dbt_node_builds where tenant_id = %s""", (tenant_id,)).fetchall()
    return {r[0]: NodeBuild(*r[1:]) for r in rows}


def record_node_builds(conn: psycopg.Connection, tenant_id: str, built: Iterable[tuple[str, NodeBuild]],
                       forgotten: Iterable[str]) -> None:
    """Store what the nodes in `built` were built on; forget the nodes whose build failed or was skipped (their
    relation may hold anything: the next run builds them)."""
    with conn.cursor() as cur:
        cur.executemany("""insert into ops.dbt_node_builds (tenant_id, unique_id, signature, status, failures, run_id,
                                                           definition, compiled_sql)
                           values (%s, %s, %s, %s, %s, %s, %s, %s)
                           on conflict (tenant_id, unique_id) do update set signature = excluded.signature,
                               status = excluded.status, failures = excluded.failures, run_id = excluded.run_id,
                               definition = excluded.definition, compiled_sql = excluded.compiled_sql,
                               built_at = now()""",
                        [(tenant_id, uid, b.signature, b.status, b.failures, b.run_id, b.definition,
                          b.compiled_sql) for uid, b in built])
        cur.executemany("delete from ops.dbt_node_builds where tenant_id = %s and unique_id = %s",
                        [(tenant_id, uid) for uid in forgotten])
