"""Writes of ingestion: rows into raw tables together with their sync cursors (and any history gaps), in one
transaction; the sync log; a response that never parsed, kept whole in ops.quarantine; API usage per minute.

A page of rows is loaded with its cursor atomically: a run killed between two pages resumes after the last
committed one, and the loader's ON CONFLICT makes any overlap harmless (raw is append-only, idempotent).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from warehouse.connection import Warehouse
from warehouse.loader import copy_insert, identifier

SAVE_CURSOR = """
insert into ops.sync_cursors (tenant_id, account_id, endpoint, cursor, run_id, updated_at)
values (%s, %s, %s, %s, %s, now())
on conflict (tenant_id, account_id, endpoint)
do update set cursor = excluded.cursor, run_id = excluded.run_id, updated_at = now()
"""

SAVE_GAP = """
insert into ops.history_gaps (tenant_id, account_id, source, endpoint, gap_start, gap_end, reason)
values (%s, %s, %s, %s, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0), %s)
on conflict (tenant_id, account_id, source, endpoint, gap_start)
do update set gap_end = excluded.gap_end, reason = excluded.reason
"""


@dataclass(frozen=True)
class HistoryGap:
    """History the venue no longer serves (HTX keeps 120 days of trades): recorded for a CSV back-fill."""

    source: str
    endpoint: str
    start_ms: int
    end_ms: int
    reason: str


@dataclass(frozen=True)
class SetAside:
    """Rows of the same page that go to another raw table (derivatives: raw.exchange_derivatives)."""

    table: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


def store_rows(wh: Warehouse, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
               tenant_id: str, account_id: str, run_id: str | None,
               cursors: Mapping[str, Any] | None = None, gaps: Sequence[HistoryGap] = (),
               set_aside: SetAside | None = None) -> int:
    """Load `rows` (tuples in `columns` order) into `table` (and `set_aside`'s rows into its table), store the
    cursors and history gaps, all in one transaction. Returns the rows newly inserted into `table` (rows already
    present by key are skipped)."""
    with wh.connect() as conn, conn.transaction():
        inserted = copy_insert(conn, table, columns, rows) if rows else 0
        if set_aside is not None and set_aside.rows:
            copy_insert(conn, set_aside.table, set_aside.columns, set_aside.rows)
        for gap in gaps:
            conn.execute(SAVE_GAP, (tenant_id, account_id, gap.source, gap.endpoint, gap.start_ms, gap.end_ms,
                                    gap.reason))
        for endpoint, cursor in (cursors or {}).items():
            conn.execute(SAVE_CURSOR, (tenant_id, account_id, endpoint, Jsonb(cursor), run_id))
    return inserted


def record_wallet_addresses(wh: Warehouse, tenant_id: str, account_id: str, chain: str,
                            addresses: Sequence[tuple[str, int | None, int | None, str | None, str]]) -> None:
    """Addresses a wallet derived or was given: (address, branch, index, path, script type)."""
    with wh.connect() as conn, conn.transaction():
        for address, branch, index, path, script_type in addresses:
            conn.execute(
                """insert into ops.wallet_addresses (tenant_id, account_id, chain, address, branch, address_index,
                                                     path, script_type)
                   values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing""",
                (tenant_id, account_id, chain, address, branch, index, path, script_type))


@contextmanager
def sync_log(wh: Warehouse, *, tenant_id: str, account_id: str, source: str, endpoint: str,
             run_id: str | None) -> Iterator[dict[str, Any]]:
    """Record one sync in ops.sync_log: 'running', then 'ok' with counts, or 'failed' with the error."""
    stats: dict[str, Any] = {"fetched": 0, "inserted": 0, "api_calls": 0, "ignored": {}}
    with wh.connect() as conn:
        sync_id = conn.execute(
            """insert into ops.sync_log (tenant_id, account_id, source, endpoint, run_id, started_at, status)
               values (%s, %s, %s, %s, %s, %s, 'running') returning sync_id""",
            (tenant_id, account_id, source, endpoint, run_id, datetime.now(UTC)),
        ).fetchone()[0]  # type: ignore[index]
    status, error = "ok", None
    try:
        yield stats
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        with wh.connect() as conn:
            conn.execute(
                """update ops.sync_log set finished_at = %s, status = %s, error = %s,
                          fetched = %s, inserted = %s, api_calls = %s, ignored = %s
                   where tenant_id = %s and sync_id = %s""",
                (datetime.now(UTC), status, error, stats["fetched"], stats["inserted"], stats["api_calls"],
                 Jsonb(stats.get("ignored") or {}), tenant_id, sync_id),
            )


def quarantine_response(wh: Warehouse, *, tenant_id: str, account_id: str, source: str, raw_table: str,
                        record_id: str, url: str, status: int | None, body: str, digest: str, reason: str,
                        run_id: str | None) -> None:
    """A response that could not be parsed even after retries: kept whole (100 kB at most), with the reason."""
    evidence = Jsonb({"url": url, "status": status, "body": body[:100_000].replace("\x00", "")})
    with wh.connect() as conn:
        conn.execute(
            """insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id,
                                           record_hash, payload, check_name, reason, run_id)
               values (%s, %s, %s, %s, %s, %s, %s, 'unparseable_response', %s, %s)
               on conflict do nothing""",
            (tenant_id, account_id, source, raw_table, record_id, digest, evidence, reason, run_id),
        )


def record_api_usage(wh: Warehouse, tenant_id: str, venue: str, calls: int, retries: int,
                     budget: str = "venue") -> None:
    """Calls and retries per venue, request budget ('venue' or 'key:<account_id>') and minute (the request budget
    is the operator's: tenant 'public')."""
    if not calls and not retries:
        return
    with wh.connect() as conn:
        conn.execute(
            """insert into ops.api_usage (tenant_id, venue, budget, minute, calls, retries)
               values (%s, %s, %s, date_trunc('minute', now()), %s, %s)
               on conflict (tenant_id, venue, budget, minute)
               do update set calls = ops.api_usage.calls + excluded.calls,
                             retries = ops.api_usage.retries + excluded.retries""",
            (tenant_id, venue, budget, calls, retries),
        )


def create_tables_like(database_url: str, tables: Sequence[tuple[str, str]]) -> list[str]:
    """(new raw table, raw table to copy) pairs: each new one created like its template unless it exists;
    returns the tables created (a venue beyond the five seed venues gets Binance's shapes)."""
    created = []
    with psycopg.connect(database_url) as conn:
        for table, template in tables:
            exists = conn.execute("select to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]  # type: ignore[index]
            if exists is None:
                conn.execute(sql.SQL("create table raw.{} (like raw.{} including all)").format(
                    sql.Identifier(identifier(table)), sql.Identifier(identifier(template))))
                created.append(f"raw.{table}")
    return created
