"""The audit chain in the warehouse (migration V018): its links read in order, every chained record compared with
the hash its latest link recorded, daily checkpoints, and the maintenance path (the one way to change a raw row)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from warehouse.connection import Warehouse


@dataclass(frozen=True)
class RecordMismatch:
    tenant_id: str
    table_name: str
    record_key: str
    seq: int | None  # the link that last recorded it; None: a row no link recorded
    problem: str


def tenants(wh: Warehouse) -> list[str]:
    with wh.connect() as conn:
        return [t for (t,) in conn.execute("select tenant_id from audit.heads order by 1")]


LinkRow = tuple[Any, ...]  # audit.chain's columns in order: tenant_id … hash (bytes), arrays as tuples, hash_version


def links(conn: psycopg.Connection, tenant_id: str, after_seq: int = 0) -> Iterator[LinkRow]:
    """One tenant's links after `after_seq`, in sequence order (a server-side cursor: a million records are a few
    thousand links, each with its arrays)."""
    with conn.cursor(name="audit_links") as cursor:
        cursor.itersize = 500
        cursor.execute("""select tenant_id, seq, recorded_at, actor, table_name, operation, record_keys,
                                 record_hashes, content_hash, prev_hash, hash, hash_version
                            from audit.chain where tenant_id = %s and seq > %s order by seq""",
                       (tenant_id, after_seq))
        for row in cursor:
            yield (*row[:6], tuple(row[6]), tuple(bytes(h) for h in row[7]), bytes(row[8]), bytes(row[9]),
                   bytes(row[10]), int(row[11]))


@dataclass(frozen=True)
class ChainedTable:
    name: str  # its regclass text, from the catalog
    key: str  # the SQL expression of a row's key (alias r), from audit.key_expression: columns quoted by format(%I)
    hash_v2: str  # the SQL expression of a row's version-2 hash (alias c: the row joined to its entry), V047


def chained_tables(conn: psycopg.Connection) -> list[ChainedTable]:
    """Every table whose rows are chained (it carries the chain's insert trigger, whichever migration put it
    there), with its key and version-2 hash expressions: read once per verification, not once per tenant."""
    return [ChainedTable(t, k, h) for t, k, h in conn.execute(
        """select c.oid::regclass::text, audit.key_expression(c.oid, 'r'), audit.hash_expression(c.oid, 'c')
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname in ('raw', 'ops') and c.relkind = 'r'
              and exists (select 1 from pg_trigger g where g.tgrelid = c.oid and g.tgname = 'audit_chain_insert')
            order by 1""")]


TICK_TABLE = "raw.price_ticks"  # chained by (venue, day) digests, not row by row (V028)

# The latest entry of each record key of one tenant's table (its link, operation and hash), of the keys in `part` of
# `parts`: what the record must still be. One fragment for the row-chained tables and the tick days.
_LATEST = """
entries as (
    select c.seq, c.operation, c.hash_version, u.key collate "C" as key, u.h, u.i
      from audit.chain c cross join lateral unnest(c.record_keys, c.record_hashes) with ordinality as u (key, h, i)
     where c.tenant_id = %(tenant)s and c.table_name = %(table)s and c.seq > %(after)s
       and abs(hashtext(u.key) %% %(parts)s) = %(part)s
), latest as (
    select distinct on (key) key, seq, operation, hash_version, h from entries order by key, seq desc, i desc
)"""

_TICK_MISMATCHES = "with " + _LATEST + """, loaded as (
    select distinct source || '/' || day::text as key from ops.tick_loads
     where tenant_id = %(tenant)s and inserted > 0 and %(after)s = 0
)
select coalesce(l.key, d.key), l.seq,
       case when l.key is null then 'a day of ticks no link recorded'
            else 'changed after its link recorded it (its digest differs)' end
  from latest l full join loaded d on d.key = l.key
 where l.key is null
    or audit.tick_digest(%(tenant)s, split_part(l.key, '/', 1), split_part(l.key, '/', 2)::date) <> l.h
 order by 2 nulls first, 1
"""


def tick_tenants(conn: psycopg.Connection) -> set[str]:
    """The tenants with price ticks loaded or chained: the only ones whose tick days verify has to check."""
    return {t for (t,) in conn.execute(
        """select tenant_id from ops.tick_loads where inserted > 0
           union select tenant_id from audit.chain where table_name = %s""", (TICK_TABLE,))}


def tick_mismatches(conn: psycopg.Connection, tenant_id: str, after_seq: int = 0,
                    limit: int = 1000) -> list[RecordMismatch]:
    """The tenant's (venue, day)s of price ticks whose digest is not what their latest link recorded, and (from the
    start) the days loaded that no link recorded. A day costs a scan of its ticks (~1 s per million)."""
    cursor = conn.execute(_TICK_MISMATCHES, {"tenant": tenant_id, "table": TICK_TABLE, "after": after_seq,
                                             "part": 0, "parts": 1})
    return [RecordMismatch(tenant_id, TICK_TABLE, key, seq, problem) for key, seq, problem in cursor.fetchmany(limit)]


# Keys compare in the "C" collation: bytewise, which is all equality needs, and several times cheaper to sort and
# hash than the database's linguistic default (measured: the sort of a million keys was a quarter of the check).
# `part` / `parts` split the keys by hash so that several connections share one table's check (the hashing of
# every row is the cost, and it is per row).
# Each row is hashed by the version of the link that last recorded it (V047): the table's rows are joined to
# their latest entries first (one hash join: the entries hashed, the table's rows streamed past them; no
# per-row lookup) and hashed above the join, where the entry's version is known, from the row's own columns.
_MISMATCHES = "with " + _LATEST + """
select coalesce(l.key, c.audit_key_), l.seq,
       case when l.key is null then 'a row no link recorded (written with the chain''s triggers bypassed)'
            when l.operation = 'delete' then 'deleted by its link, yet present'
            when c.audit_key_ is null then 'missing: deleted outside the chain'
            else 'changed after its link recorded it' end
  from latest l
  full join (select ({key}) collate "C" as audit_key_, r as audit_row_, r.*
               from {table} r
              where r.tenant_id = %(tenant)s and abs(hashtext(({key}) collate "C") %% %(parts)s) = %(part)s) c
    on c.audit_key_ = l.key
 where (l.key is null and %(after)s = 0)
    or (l.key is not null and l.operation = 'delete' and c.audit_key_ is not null)
    or (l.key is not null and l.operation <> 'delete'
        and (c.audit_key_ is null
             or case l.hash_version when 1 then audit.hash_of(c.audit_row_) else {hash_v2} end <> l.h))
 order by 2 nulls first, 1
"""


def record_mismatches(conn: psycopg.Connection, tenant_id: str, table: ChainedTable, after_seq: int = 0,
                      part: int = 0, parts: int = 1, limit: int = 1000) -> list[RecordMismatch]:
    """The tenant's records of `table` (of the keys in `part` of `parts`) whose content is not what their latest
    link recorded (changed, deleted outside the chain, present though deleted, never chained). With `after_seq`,
    only records linked after it."""
    conn.execute("set local timezone = 'UTC'")  # audit.hash_of prints timestamps in the session's zone and style
    conn.execute("set local datestyle = 'ISO, YMD'")
    conn.execute("set local work_mem = '256MB'")  # a million keys sort in memory, not in temporary files
    # No parallel workers within a part: the parts already share the cores, and a parallel scan would send every
    # whole row (~1 kB a trade) through its Gather to be hashed above the join (measured, 500,000 trades: 7.7 s
    # with two workers, 6.9 s without).
    conn.execute("set local max_parallel_workers_per_gather = 0")
    query = sql.SQL(_MISMATCHES).format(table=sql.SQL(table.name), key=sql.SQL(table.key),
                                        hash_v2=sql.SQL(table.hash_v2))
    cursor = conn.execute(query, {"tenant": tenant_id, "table": table.name, "after": after_seq, "part": part,
                                  "parts": parts})
    return [RecordMismatch(tenant_id, table.name, key, seq, problem) for key, seq, problem in cursor.fetchmany(limit)]


def checkpoint_before(conn: psycopg.Connection, tenant_id: str, day: date) -> tuple[int, bytes] | None:
    row = conn.execute("""select seq, hash from audit.checkpoints where tenant_id = %s and day < %s
                          order by day desc limit 1""", (tenant_id, day)).fetchone()
    return (int(row[0]), bytes(row[1])) if row else None


def linked_after(conn: psycopg.Connection, tenant_id: str, seq: int) -> dict[str, int]:
    """The tables of the tenant's links after `seq`, each with how many record entries those links carry (its
    chain's primary key is (tenant_id, seq): a range read)."""
    return {t: int(n) for t, n in conn.execute(
        """select table_name, coalesce(sum(cardinality(record_keys)), 0) from audit.chain
            where tenant_id = %s and seq > %s group by table_name""", (tenant_id, seq))}


def checkpoints(conn: psycopg.Connection, tenant_id: str | None = None) -> list[tuple[str, date, int, bytes]]:
    return [(t, d, int(s), bytes(h)) for t, d, s, h in conn.execute(
        """select tenant_id, day, seq, hash from audit.checkpoints where %(t)s::text is null or tenant_id = %(t)s
           order by tenant_id, day""", {"t": tenant_id})]


def write_checkpoints_at(wh: Warehouse, day: date, heads: dict[str, int]) -> int:
    """Each tenant's link `heads[tenant]` (the head a verification walked to: links appended while it ran are not
    vouched for) as the checkpoint of `day`; seq 0, a chain not yet begun, with the chain's zero hash. The first
    one written for a day stands."""
    tenants, seqs = list(heads), [heads[t] for t in heads]
    with wh.connect() as conn:
        return conn.execute("""insert into audit.checkpoints (tenant_id, day, seq, hash)
                               select v.tenant_id, %s, v.seq, coalesce(c.hash, decode(repeat('00', 32), 'hex'))
                                 from unnest(%s::text[], %s::bigint[]) as v (tenant_id, seq)
                                 left join audit.chain c on c.tenant_id = v.tenant_id and c.seq = v.seq
                                where v.seq = 0 or c.seq is not null
                               on conflict (tenant_id, day) do nothing""", (day, tenants, seqs)).rowcount


def write_checkpoints(wh: Warehouse, day: date) -> int:
    """Each tenant's head as of now as the checkpoint of `day` (the first one written for a day stands)."""
    with wh.connect() as conn:
        return conn.execute("""insert into audit.checkpoints (tenant_id, day, seq, hash)
                               select tenant_id, %s, seq, hash from audit.heads
                               on conflict (tenant_id, day) do nothing""", (day,)).rowcount


def maintain(admin: Warehouse, reason: str, statement: str) -> int:
    """The maintenance path: `statement` (an UPDATE or DELETE of raw rows) run by the superuser with its reason;
    the chain records what it changed, who and why. Returns the rows it touched."""
    if not reason.strip():
        raise ValueError("a maintenance change needs a reason")
    with admin.connect() as conn:
        conn.execute("select set_config('coinbook.maintenance', %s, true)", (reason.strip(),))
        return conn.execute(statement).rowcount  # type: ignore[arg-type]  # the operator's own SQL
