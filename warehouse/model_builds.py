"""What each dbt node was last built on (ops.dbt_node_builds, V049), and the content digest of a table.

The transform keeps a model whose inputs are what they were at its last successful build (see
pipelines/services/dbt_reuse.py); this module only reads and writes the record and digests tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

PUBLIC_TENANT = "public"


@dataclass(frozen=True)
class NodeBuild:
    signature: str
    status: str            # dbt's: success (model, seed) | pass | warn | fail (test)
    failures: int | None
    run_id: str | None


def table_digest(conn: psycopg.Connection, schema: str, table: str, ignore: Sequence[str] = (),
                 digest_as: Mapping[str, str] | None = None) -> str:
    """The table's content in one pass, order-free and without a sort: its row count and the sum of a 64-bit hash
    of each whole row's text (~0.1 s per 100,000 raw rows), `ignore`d columns left out and the columns of
    `digest_as` taken as its SQL expression (trusted text from the dbt project's YAML). Any INSERT, UPDATE or
    DELETE changes it, save by a 2^-64 chance. Change detection, not tamper evidence (the audit chain is that).
    A table that does not exist digests as 'missing'."""
    if conn.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0] is None:
        return "missing"
    row: sql.Composable = sql.SQL("t::text")
    if ignore or digest_as:
        columns = [c for (c,) in conn.execute("""select column_name from information_schema.columns
                                                 where table_schema = %s and table_name = %s
                                                 order by ordinal_position""", (schema, table)).fetchall()
                   if c not in ignore]
        row = sql.SQL("row({})::text").format(sql.SQL(", ").join(
            sql.SQL(f"({(digest_as or {})[c]})") if c in (digest_as or {}) else sql.Identifier("t", c)
            for c in columns))
    count, total = conn.execute(sql.SQL("select count(*), sum(hashtextextended({}, 0)::numeric) from {} t")
                                .format(row, sql.Identifier(schema, table))).fetchone()
    return f"{count}:{total}"


def node_builds(conn: psycopg.Connection) -> dict[str, NodeBuild]:
    rows = conn.execute("""select unique_id, signature, status, failures, run_id from ops.dbt_node_builds
                           where tenant_id = %s""", (PUBLIC_TENANT,)).fetchall()
    return {r[0]: NodeBuild(r[1], r[2], r[3], r[4]) for r in rows}


def record_node_builds(conn: psycopg.Connection, built: Iterable[tuple[str, NodeBuild]],
                       forgotten: Iterable[str]) -> None:
    """Store what the nodes in `built` were built on; forget the nodes whose build failed or was skipped (their
    relation may hold anything: the next run builds them)."""
    with conn.cursor() as cur:
        cur.executemany("""insert into ops.dbt_node_builds (tenant_id, unique_id, signature, status, failures, run_id)
                           values (%s, %s, %s, %s, %s, %s)
                           on conflict (tenant_id, unique_id) do update set signature = excluded.signature,
                               status = excluded.status, failures = excluded.failures, run_id = excluded.run_id,
                               built_at = now()""",
                        [(PUBLIC_TENANT, uid, b.signature, b.status, b.failures, b.run_id) for uid, b in built])
        cur.executemany("delete from ops.dbt_node_builds where tenant_id = %s and unique_id = %s",
                        [(PUBLIC_TENANT, uid) for uid in forgotten])
