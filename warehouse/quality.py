"""Writes of the quality gate (expectations/gate.py): rows that failed an expectation, copied with their payload and
hash from the raw table into ops.quarantine (never deleted from raw: staging leaves them out), and each table's
last verdict (ops.gate_verdicts)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql


def record_gate_verdict(database_url: str, tenant_id: str, raw_table: str, signature: str, passed: bool,
                        result_json: str, run_id: str | None) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("""insert into ops.gate_verdicts (tenant_id, raw_table, signature, passed, result, run_id)
                        values (%s, %s, %s, %s, %s, %s)
                        on conflict (tenant_id, raw_table) do update set signature = excluded.signature,
                            passed = excluded.passed, result = excluded.result, run_id = excluded.run_id,
                            checked_at = now()""",
                     (tenant_id, raw_table, signature, passed, result_json, run_id))


def quarantine_failing_rows(database_url: str, raw_table: str, rows: Sequence[tuple[str, str, str, str, str, str]],
                            run_id: str | None) -> tuple[int, int]:
    """Copy failing rows (with payload and hash from the raw table) to ops.quarantine. Returns (rows newly
    quarantined, distinct raw rows now in quarantine for this table)."""
    schema, table = raw_table.split(".")
    with psycopg.connect(database_url) as conn:
        inserted = 0
        if rows:
            conn.execute("""create temp table _failing (tenant_id text, account_id text, source text,
                            source_record_id text, check_name text, reason text) on commit drop""")
            with conn.cursor().copy("copy _failing from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor = conn.execute(sql.SQL("""
                insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id,
                                            record_hash, payload, check_name, reason, run_id)
                select f.tenant_id, f.account_id, f.source, {raw_table}, f.source_record_id,
                       r.record_hash, r.payload, f.check_name, f.reason, {run_id}
                from _failing f
                join {table} r on r.tenant_id = f.tenant_id and r.account_id = f.account_id
                              and r.source = f.source and r.source_record_id = f.source_record_id
                on conflict do nothing""").format(
                raw_table=sql.Literal(raw_table), run_id=sql.Literal(run_id), table=sql.Identifier(schema, table)))
            inserted = cursor.rowcount
        total = conn.execute("""select count(*) from (select distinct tenant_id, account_id, source, source_record_id
                                from ops.quarantine where raw_table = %s) q""", (raw_table,)).fetchone()
    return inserted, int(total[0]) if total else 0
