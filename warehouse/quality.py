"""Writes of the quality gate (expectations/gate.py): rows that failed an expectation, copied with their payload and
hash from the raw table into ops.quarantine (never deleted from raw: staging leaves them out), each table's last
verdict (ops.gate_verdicts) and each (tenant, account, source) partition's state (ops.gate_partitions: held or
passed, and up to which ingestion time its rows passed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import psycopg
from psycopg import sql


def record_gate_verdict(database_url: str, tenant_id: str, raw_table: str, signature: str, passed: bool,
                        result_json: str, run_id: str | None,
                        increment: tuple[str, datetime, str] | None = None) -> None:
    """The table's verdict; `increment` = (frame, validated_through, through_digest): what a later run needs to
    validate only the rows ingested after it (V052)."""
    frame, through, digest = increment or (None, None, None)
    with psycopg.connect(database_url) as conn:
        conn.execute("""insert into ops.gate_verdicts (tenant_id, raw_table, signature, passed, result, run_id,
                                                       frame, validated_through, through_digest)
                        values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                        on conflict (tenant_id, raw_table) do update set signature = excluded.signature,
                            passed = excluded.passed, result = excluded.result, run_id = excluded.run_id,
                            frame = excluded.frame, validated_through = excluded.validated_through,
                            through_digest = excluded.through_digest, checked_at = now()""",
                     (tenant_id, raw_table, signature, passed, result_json, run_id, frame, through, digest))


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
        # rows of the raw table in quarantine: lines a CSV importer rejected never reached raw, not the gate's
        total = conn.execute(sql.SQL("""
            select count(*) from (select distinct tenant_id, account_id, source, source_record_id
                                  from ops.quarantine where raw_table = %s) q
            where exists (select 1 from {table} r where r.tenant_id = q.tenant_id and r.account_id = q.account_id
                          and r.source = q.source and r.source_record_id = q.source_record_id)""").format(
            table=sql.Identifier(schema, table)), (raw_table,)).fetchone()
    return inserted, int(total[0]) if total else 0


class PartitionRow(Protocol):
    tenant_id: str
    account_id: str
    source: str
    rows: int
    quarantined: int
    held: bool
    reason: str | None


def record_partition_verdicts(database_url: str, raw_table: str, partitions: Sequence[PartitionRow],
                              validated_at: datetime, run_id: str | None) -> None:
    """Each partition's verdict. A passing one moves `passed_through` to `validated_at` (its rows up to then
    were validated) and ends any hold; a held one keeps the `passed_through` it had (none, if it never passed)
    and the start of its hold. Partitions no longer in the table (none: raw is insert-only) are left alone."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        for p in partitions:
            conn.execute(
                """insert into ops.gate_partitions (tenant_id, raw_table, account_id, source, rows_checked,
                       quarantined, held, reason, passed_through, held_since, run_id, checked_at)
                   values (%(tenant)s, %(table)s, %(account)s, %(source)s, %(rows)s, %(bad)s, %(held)s, %(reason)s,
                           case when %(held)s then null else %(at)s end, case when %(held)s then now() end,
                           %(run)s, now())
                   on conflict (tenant_id, raw_table, account_id, source) do update set
                       rows_checked = excluded.rows_checked, quarantined = excluded.quarantined,
                       held = excluded.held, reason = excluded.reason, run_id = excluded.run_id,
                       checked_at = excluded.checked_at,
                       passed_through = case when excluded.held then ops.gate_partitions.passed_through
                                             else excluded.passed_through end,
                       held_since = case when not excluded.held then null
                                         else coalesce(ops.gate_partitions.held_since, excluded.held_since) end""",
                {"tenant": p.tenant_id, "table": raw_table, "account": p.account_id, "source": p.source,
                 "rows": p.rows, "bad": p.quarantined, "held": p.held, "reason": p.reason, "at": validated_at,
                 "run": run_id})


def advance_passed_through(database_url: str, raw_table: str, validated_at: datetime, run_id: str | None) -> None:
    """A table unchanged since its passing verdict: every partition's rows up to `validated_at` passed."""
    with psycopg.connect(database_url) as conn:
        conn.execute("""update ops.gate_partitions set passed_through = greatest(passed_through, %s), run_id = %s,
                        checked_at = now() where raw_table = %s and not held""", (validated_at, run_id, raw_table))
