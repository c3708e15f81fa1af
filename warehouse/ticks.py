"""Writing price ticks into raw.price_ticks, exactly once, near the speed of a bare COPY.

Ticks arrive grouped by UTC day and venue (pipelines/services/prices.py prepares them); each (day, venue) is one
leaf partition, raw.price_ticks_<yyyymmdd>_<venue>, under the day's partition raw.price_ticks_<yyyymmdd>. Each
group is written in a transaction and a connection of its own (a killed load leaves whole venue-days, never part
of one):

  identical re-load   ops.tick_loads already has this (venue, day) with the same digest of identities:
                      every tick is a duplicate; nothing is written but the tally.
  new partition       the leaf does not exist yet: create it as a plain table, COPY the rows (already unique:
                      the batch was de-duplicated by identity), add the primary key, ATTACH it. The
                      index built once after the COPY costs ~1.6 s for 2.3 M rows; maintained row by row
                      during the COPY it cost ~6 s.
  merge               the leaf exists (a second file for that venue and day, or an overlapping one): COPY into
                      a temporary table, then insert … on conflict do nothing into the leaf.

The unique index (observed_at, tenant_id, source, source_record_id) is what guarantees exactly once on every
path; a transaction-scoped advisory lock per leaf serialises two loaders of the same venue and day.
Rejected ticks go to ops.quarantine (raw_table 'raw.price_ticks'), once per tick and check.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.types.json import Jsonb

from warehouse.loader import copy_arrow_chunks, identifier

TICKS_TABLE = "raw.price_ticks"
KEY = ("observed_at", "tenant_id", "source", "source_record_id")  # = raw.price_ticks' primary key


@dataclass(frozen=True)
class TickGroup:
    """One (day, venue) of prepared ticks: how many, a digest of their identities (computed under the leaf's
    lock, by the caller's function) and their rows as Arrow chunks in raw.price_ticks' final columns."""

    day: date
    source: str
    rows: int
    digest: Callable[[], str]
    chunks: Callable[[], Iterator[pa.Table]]


@dataclass(frozen=True)
class GroupLoad:
    day: date
    source: str
    rows: int
    inserted: int
    duplicates: int
    path: str  # 'new partition' | 'merge' | 'identical re-load'


@dataclass(frozen=True)
class TickReject:
    source: str
    source_record_id: str
    payload: dict[str, Any]
    check_name: str
    reason: str


def day_table(day: date) -> str:
    return f"price_ticks_{day:%Y%m%d}"


def leaf_table(day: date, source: str) -> str:
    return identifier(f"{day_table(day)}_{source}")  # a partition name is never built from junk


def _bounds(day: date) -> tuple[sql.Literal, sql.Literal]:
    """The UTC day as timestamptz literals [from, to)."""
    return (sql.Literal(f"{day.isoformat()} 00:00:00+00"),
            sql.Literal(f"{(day + timedelta(days=1)).isoformat()} 00:00:00+00"))


def _lock_key(name: str) -> sql.Composable:
    return sql.SQL("select pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(f"coinbook:{name}"))


def _exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (f"raw.{name}",)).fetchone()
    return bool(row and row[0])


def ensure_days(url: str, days: set[date]) -> None:
    """Create the (empty) day partitions, each in a short transaction of its own: creating a partition locks
    the whole of raw.price_ticks, which must not last as long as a load."""
    with psycopg.connect(url) as conn:
        for day in sorted(days):
            with conn.transaction():
                conn.execute(_lock_key(day_table(day)))
                if _exists(conn, day_table(day)):
                    continue
                conn.execute(sql.SQL(
                    "create table raw.{} partition of raw.price_ticks for values from ({}) to ({}) "
                    "partition by list (source)").format(sql.Identifier(day_table(day)), *_bounds(day)))


US_PER_HOUR = 3_600_000_000
# audit.tick_digest's line (V029): these columns, tab-separated, NULLs left out
_DIGEST_COLUMNS = ("source_record_id", "observed_us", "symbol", "base_asset", "quote_asset", "price", "size",
                   "payload", "record_hash")


def _trimmed(decimals: pa.Array) -> pa.Array:
    """Decimal text without trailing zeros ('1.50' -> '1.5', '7.0' -> '7'), as trim_scale(numeric)::text."""
    trimmed = pc.utf8_rtrim(pc.utf8_rtrim(decimals, characters="0"), characters=".")
    return pc.if_else(pc.match_substring(decimals, "."), trimmed, decimals)


class TickDigest:
    """audit.tick_digest (V029) of a (venue, day), computed from its rows as the loader copies them, in order
    (observed_at, source_record_id): the sha256 of the hour digests, each the sha256 of the hour's lines joined
    by newlines. Fed chunk by chunk, each hour's bytes are hashed straight from the Arrow buffers (no Python
    object per tick). Pure: no I/O."""

    def __init__(self) -> None:
        self._day = hashlib.sha256()
        self._hour: int | None = None
        self._hour_hash = hashlib.sha256()
        self._last_us = -(1 << 62)
        self.hours: dict[int, bytes] = {}  # hour of the day -> its digest (audit.tick_hours), once digest() ran

    def add(self, chunk: pa.Table) -> None:
        if chunk.num_rows == 0:
            return
        us_array = pc.cast(pc.cast(chunk["observed_at"], pa.timestamp("us", tz="UTC")), pa.int64())
        us = np.asarray(us_array, dtype=np.int64)
        if us[0] < self._last_us or (len(us) > 1 and bool((us[1:] < us[:-1]).any())):
            raise ValueError("ticks must come in observed_at order to be digested as they are copied")
        self._last_us = int(us[-1])
        values = {c: chunk[c] for c in _DIGEST_COLUMNS if c != "observed_us"}
        values["observed_us"] = pc.cast(us_array, pa.string())
        values["price"], values["size"] = _trimmed(chunk["price"]), _trimmed(chunk["size"])
        lines = pc.binary_join_element_wise(*(values[c] for c in _DIGEST_COLUMNS), "\t", null_handling="skip")
        lines = pc.binary_join_element_wise(lines, "", "\n")  # each line + '\n': the hour's bytes are contiguous
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        n = len(lines)
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + n + 1]
        data = memoryview(lines.buffers()[2])  # type: ignore[arg-type]
        hours = us // US_PER_HOUR
        cuts = [0, *(np.flatnonzero(hours[1:] != hours[:-1]) + 1).tolist(), n]
        for start, stop in itertools.pairwise(cuts):
            hour = int(hours[start])
            if hour != self._hour:
                self._close_hour()
                self._hour = hour
            elif start == 0:
                self._hour_hash.update(b"\n")  # the hour goes on from the last chunk: the separator held back
            # the hour's lines but the last newline (a separator, not a terminator: string_agg)
            self._hour_hash.update(data[int(offsets[start]):int(offsets[stop]) - 1])

    def _close_hour(self) -> None:
        if self._hour is not None:
            hour = self._hour_hash.digest()
            self._day.update(hour)
            self.hours[self._hour % 24] = hour
        self._hour, self._hour_hash = None, hashlib.sha256()

    def through(self, chunks: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """The chunks unchanged, each digested on its way to the COPY."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk

    def digest(self) -> bytes:
        self._close_hour()
        return self._day.digest()


def _timed(seconds: dict[str, float], phase: str, started: float) -> float:
    now = time.perf_counter()
    seconds[phase] = seconds.get(phase, 0.0) + now - started
    return now


def _new_partition(conn: psycopg.Connection[Any], group: TickGroup, seconds: dict[str, float],
                   digest: TickDigest) -> int:
    name = leaf_table(group.day, group.source)
    leaf = sql.Identifier(name)
    low, high = _bounds(group.day)
    conn.execute(sql.SQL("create table raw.{} (like raw.price_ticks including defaults including constraints)")
                 .format(leaf))
    # The bound as a CHECK before the COPY: checked per row while loading (cheap), and it lets ATTACH skip
    # the validation scan it would otherwise do (1.5 s for a day).
    conn.execute(sql.SQL("alter table raw.{} add constraint {} check (observed_at >= {} and observed_at < {} "
                         "and source = {})").format(leaf, sql.Identifier(f"{name}_bounds"), low, high,
                                                    sql.Literal(group.source)))
    started = time.perf_counter()
    copied = copy_arrow_chunks(conn, f"raw.{name}", digest.through(group.chunks()))
    started = _timed(seconds, "copy", started)
    # A primary key, not just a unique index: ATTACH adopts it as the partition's share of the parent's key;
    # given a plain unique index it built the primary key index a second time (1.7 s for a day).
    conn.execute(sql.SQL("alter table raw.{} add primary key ({})").format(
        leaf, sql.SQL(", ").join(sql.Identifier(c) for c in KEY)))
    started = _timed(seconds, "index", started)
    conn.execute(sql.SQL("alter table raw.{} attach partition raw.{} for values in ({})").format(
        sql.Identifier(day_table(group.day)), leaf, sql.Literal(group.source)))
    _timed(seconds, "attach", started)
    return copied


def _merge(conn: psycopg.Connection[Any], group: TickGroup) -> tuple[int, list[int]]:
    """Returns the ticks inserted and the hours of the day they fell in."""
    leaf = sql.Identifier(leaf_table(group.day, group.source))
    conn.execute(sql.SQL("create temp table if not exists _ticks_stage (like raw.price_ticks including defaults) "
                         "on commit drop"))
    conn.execute("truncate _ticks_stage")
    copy_arrow_chunks(conn, "pg_temp._ticks_stage", group.chunks())
    inserted, hours = conn.execute(sql.SQL(
        """with added as (insert into raw.{} select * from _ticks_stage on conflict do nothing returning observed_at)
           select count(*), coalesce(array_agg(distinct extract(hour from observed_at at time zone 'UTC')::int),
                                     '{{}}') from added""").format(leaf)).fetchone()  # type: ignore[misc]
    return int(inserted), list(hours)


_HOURS_KEY = "tenant_id = %(tenant)s and source = %(source)s and day = %(day)s"


def _chain_day(conn: psycopg.Connection[Any], tenant_id: str, group: TickGroup, digest: TickDigest | None,
               touched: list[int]) -> None:
    """The (venue, day)'s link (V028) from its hour digests (audit.tick_hours, V029). A new partition: the hours
    the loader digested while copying. A merge: only the hours it added ticks to are digested again by the
    server, the others are the stored ones (all of them when the day has none stored: loaded before V029)."""
    key = {"tenant": tenant_id, "source": group.source, "day": group.day}
    if digest is not None:
        day_digest = digest.digest()
        conn.execute("delete from audit.tick_hours where " + _HOURS_KEY, key)  # type: ignore[operator]
        conn.execute("""insert into audit.tick_hours (tenant_id, source, day, hour, digest)
                        select %(tenant)s, %(source)s, %(day)s, h, d
                          from unnest(%(hours)s::int[], %(digests)s::bytea[]) as u (h, d)""",
                     {**key, "hours": list(digest.hours), "digests": list(digest.hours.values())})
    else:
        stored = conn.execute("select exists (select 1 from audit.tick_hours where " + _HOURS_KEY + ")",  # type: ignore[operator]
                              key).fetchone()[0]  # type: ignore[index]
        conn.execute("""insert into audit.tick_hours (tenant_id, source, day, hour, digest)
                        select %(tenant)s, %(source)s, %(day)s, hour, digest
                          from audit.tick_hour_digests(%(tenant)s, %(source)s, %(day)s, %(hours)s::int[])
                        on conflict (tenant_id, source, day, hour) do update set digest = excluded.digest""",
                     {**key, "hours": touched if stored else None})
        day_digest = conn.execute("select sha256(string_agg(digest, ''::bytea order by hour)) from audit.tick_hours "
                                  "where " + _HOURS_KEY, key).fetchone()[0]  # type: ignore[index, operator]
    conn.execute("select audit.chain_tick_digest(%(tenant)s, %(source)s, %(day)s, %(digest)s)",
                 {**key, "digest": day_digest})


def write_group(url: str, group: TickGroup, *, tenant_id: str, run_id: str | None,
                trust_digest: bool = True) -> tuple[GroupLoad, dict[str, float]]:
    """One (venue, day) in a transaction and a connection of its own: loaded whole or not at all. Returns what
    happened and the seconds of each phase."""
    seconds: dict[str, float] = {}
    leaf = leaf_table(group.day, group.source)
    with psycopg.connect(url) as conn, conn.transaction():
        # For the index build: a day's keys sort in memory instead of spilling to disk.
        conn.execute("set local maintenance_work_mem = '512MB'")
        conn.execute(_lock_key(leaf))  # held until commit: a second loader of this venue and day waits, then merges
        digest = group.digest()
        day_digest = TickDigest()
        seen = trust_digest and conn.execute(
            "select 1 from ops.tick_loads where tenant_id = %s and source = %s and day = %s and key_digest = %s "
            "limit 1", (tenant_id, group.source, group.day, digest)).fetchone()
        touched: list[int] = []
        if seen:
            path, inserted = "identical re-load", 0
        elif not _exists(conn, leaf):
            path, inserted = "new partition", _new_partition(conn, group, seconds, day_digest)
        else:
            path, (inserted, touched) = "merge", _merge(conn, group)
        conn.execute("""insert into ops.tick_loads (tenant_id, source, day, rows_in, inserted, duplicates, path,
                                                    key_digest, run_id)
                        values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                     (tenant_id, group.source, group.day, group.rows, inserted, group.rows - inserted, path, digest,
                      run_id))
        if inserted:
            # The audit chain's record of a (venue, day) is its digest as it now stands (V028), in this transaction.
            # A new partition holds exactly the rows just copied: their digest was computed on the way (V029). A
            # merge interleaves new ticks with stored ones: the server digests again the hours it added to.
            started = time.perf_counter()
            _chain_day(conn, tenant_id, group, day_digest if path == "new partition" else None, touched)
            _timed(seconds, "chain", started)
    return GroupLoad(group.day, group.source, group.rows, inserted, group.rows - inserted, path), seconds


def quarantine_ticks(url: str, rejects: Sequence[TickReject], *, tenant_id: str, run_id: str | None) -> int:
    """Every rejected tick into ops.quarantine with its check and reason; a re-load adds nothing. Returns the
    rows newly quarantined."""
    if not rejects:
        return 0
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("""create temp table if not exists _ticks_rejects (source text, source_record_id text,
                        payload jsonb, check_name text, reason text) on commit drop""")
        conn.execute("truncate _ticks_rejects")
        with conn.cursor() as cur, cur.copy("copy _ticks_rejects from stdin") as copy:
            for r in rejects:
                copy.write_row((r.source, r.source_record_id, Jsonb(r.payload), r.check_name, r.reason))
        cur = conn.execute(
            """insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id, payload,
                                           check_name, reason, run_id)
               select %s, %s, source, %s, source_record_id, payload, check_name, reason, %s from _ticks_rejects
               on conflict do nothing""", (tenant_id, tenant_id, TICKS_TABLE, run_id))
        return cur.rowcount
