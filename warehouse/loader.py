"""Bulk loading: COPY into a temp table shaped like the target, then one insert ... on conflict do nothing.

COPY is the fastest way into PostgreSQL; the conflict clause on the target's primary key makes a re-load of
the same records a no-op (exactly once). Everything happens in the caller's transaction, so a process
killed mid-load leaves nothing half-written.

A load that grows a table markedly ends with ANALYZE (in the same transaction, which counts its own rows):
autovacuum notices a change only after its naptime (a minute), and a transform that started right after a
first load planned its joins on a never-analyzed table as if it held a handful of rows — a nested loop over
26,000 minute prices ran for over ten minutes in CI where it takes a second with statistics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ANALYZE_MIN_PAGES = 10  # ~80 kB: below this, plans are cheap whatever the statistics say
ANALYZE_GROWTH = 0.2  # ... above it, ANALYZE once the table has grown by this share since its last ANALYZE
TRANSITION_WORK_MEM = "64MB"  # a page's rows held by the chain trigger's transition table (~0.7 kB a trade)


def identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _table(qualified: str) -> sql.Composable:
    parts = qualified.split(".")
    if len(parts) != 2:
        raise ValueError(f"table must be schema-qualified: {qualified!r}")
    return sql.Identifier(identifier(parts[0]), identifier(parts[1]))


def _adapt(value: Any) -> Any:
    # psycopg's COPY needs an explicit wrapper for JSON; everything else (Decimal, datetime, None) adapts itself.
    if isinstance(value, dict | list):
        return Jsonb(value)
    return value


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url)


def copy_insert(conn: psycopg.Connection[Any], table: str, columns: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """Load `rows` into `table` (schema.name); rows already present by primary key are skipped.
    Returns the number of rows actually inserted."""
    target = _table(table)
    cols = sql.SQL(", ").join(sql.Identifier(identifier(c)) for c in columns)
    temp = sql.Identifier(f"_load_{table.replace('.', '_')}")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("create temp table if not exists {} (like {} including defaults) on commit drop")
                    .format(temp, target))
        cur.execute(sql.SQL("truncate {}").format(temp))
        staged = 0
        with cur.copy(sql.SQL("copy {} ({}) from stdin").format(temp, cols)) as copy:
            for row in rows:
                copy.write_row([_adapt(v) for v in row])
                staged += 1
        if staged == 0:
            return 0
        # The audit chain's statement trigger (V018) keeps every inserted row in a transition table, in work_mem:
        # at the default 4 MB a page of 10,000 trades spilled to a temporary file (~3 us a row, bench_audit).
        cur.execute(f"set local work_mem = '{TRANSITION_WORK_MEM}'")
        cur.execute(sql.SQL("insert into {} ({}) select {} from {} on conflict do nothing")
                    .format(target, cols, cols, temp))
        inserted = cur.rowcount
    analyze_if_grown(conn, table, inserted)
    return inserted


def copy_rows(conn: psycopg.Connection[Any], table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> int:
    """A bare COPY of `rows` into `table`: for derived tables the caller has just emptied in the same
    transaction, where copy_insert's staging table and conflict check only cost time. Returns rows copied."""
    cols = sql.SQL(", ").join(sql.Identifier(identifier(c)) for c in columns)
    copied = 0
    with conn.cursor() as cur, cur.copy(sql.SQL("copy {} ({}) from stdin").format(_table(table), cols)) as copy:
        for row in rows:
            copy.write_row([_adapt(v) for v in row])
            copied += 1
    analyze_if_grown(conn, table, copied)
    return copied


def analyze_if_grown(conn: psycopg.Connection[Any], table: str, added: int) -> bool:
    """ANALYZE `table` (after a load that added `added` rows) when it has grown markedly since its statistics
    were taken: by pages, so that many small loads (a venue paging 50 trades at a time) count together, and
    a never-analyzed table counts as known to be empty. Returns whether it asked for one."""
    if added <= 0:
        return False
    relpages, reltuples, pages = conn.execute(
        """select relpages, reltuples, pg_relation_size(oid) / current_setting('block_size')::int
           from pg_class where oid = %s::regclass""", (table,)).fetchone()  # type: ignore[misc]
    known = relpages if reltuples >= 0 else 0
    if pages < ANALYZE_MIN_PAGES or pages - known < max(ANALYZE_MIN_PAGES, ANALYZE_GROWTH * known):
        return False
    # SKIP_LOCKED: never wait (nor deadlock) on a concurrent ANALYZE of the same table, autovacuum's or
    # another loader's; theirs gives the planner its statistics as well.
    conn.execute(sql.SQL("analyze (skip_locked) {}").format(_table(table)))
    return True


def copy_arrow(conn: psycopg.Connection[Any], table: str, data: Any, chunk: int = 1 << 20) -> int:
    """COPY a pyarrow Table into `table` (schema.name; columns by the Table's names) as CSV written by Arrow's
    C++ writer: no Python object per value, which is what makes a million result rows load in about a second.
    Decimal columns keep their exact digits; nulls are empty fields. Returns the rows copied."""
    import io

    import pyarrow.csv as pcsv

    buffer = io.BytesIO()
    pcsv.write_csv(data, buffer, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    cols = sql.SQL(", ").join(sql.Identifier(identifier(c)) for c in data.column_names)
    view = buffer.getbuffer()
    with conn.cursor() as cur, cur.copy(sql.SQL("copy {} ({}) from stdin (format csv)").format(_table(table), cols)) \
            as copy:
        for offset in range(0, len(view), chunk):
            copy.write(view[offset:offset + chunk])
    return data.num_rows


def copy_arrow_chunks(conn: psycopg.Connection[Any], table: str, chunks: Iterable[Any], *, queued: bool = True) -> int:
    """COPY a stream of pyarrow Tables (same columns) into `table`, each written as CSV by Arrow's C++ writer
    as it comes. Unlike `copy_arrow`, the caller can compute chunk k+1 while PostgreSQL parses chunk k: with
    `queued`, psycopg's writer thread sends while this thread prepares the next chunk (on 2 cores the
    server's parsing and the Python side then run side by side). Returns the rows copied."""
    import io

    import pyarrow.csv as pcsv
    from psycopg.copy import QueuedLibpqWriter

    options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        return 0
    cols = sql.SQL(", ").join(sql.Identifier(identifier(c)) for c in first.column_names)
    statement = sql.SQL("copy {} ({}) from stdin (format csv)").format(_table(table), cols)
    rows = 0
    with conn.cursor() as cur, cur.copy(statement, writer=QueuedLibpqWriter(cur) if queued else None) as copy:
        chunk = first
        while chunk is not None:
            if chunk.column_names != first.column_names:
                raise ValueError(f"chunk columns {chunk.column_names} differ from {first.column_names}")
            buffer = io.BytesIO()
            pcsv.write_csv(chunk, buffer, options)
            copy.write(buffer.getbuffer())
            rows += chunk.num_rows
            chunk = next(iterator, None)
    return rows
