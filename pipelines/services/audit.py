"""Verifying the audit chain (migration V018): each tenant's links recomputed in order (pipelines/domain/audit.py),
every chained record compared with the hash its latest link recorded, against the checkpoints kept each day."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from pipelines.domain.alerts import Alert
from pipelines.domain.audit import Break, Link, first_break
from warehouse import audit as store
from warehouse.alerts import sync_alerts
from warehouse.audit import RecordMismatch
from warehouse.connection import Warehouse


@dataclass(frozen=True)
class TenantVerdict:
    tenant_id: str
    links_checked: int
    head_seq: int
    broken_link: Break | None = None
    records: list[RecordMismatch] = field(default_factory=list)
    checkpoint_problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_link is None and not self.records and self.checkpoint_problem is None

    def describe(self) -> list[str]:
        if self.intact:
            return [f"{self.tenant_id}: intact — {self.links_checked} links checked, head at {self.head_seq}"]
        lines = [f"{self.tenant_id}: BROKEN"]
        if self.broken_link is not None:
            b = self.broken_link
            keys = ", ".join(b.record_keys[:5]) + (" …" if len(b.record_keys) > 5 else "")
            lines.append(f"  first broken link: #{b.seq} ({b.table_name}): {b.reason}; its records: {keys}")
        if self.checkpoint_problem:
            lines.append(f"  {self.checkpoint_problem}")
        for m in self.records[:50]:
            where = f"link #{m.seq}" if m.seq is not None else "no link"
            lines.append(f"  {m.table_name} {m.record_key}: {m.problem} ({where})")
        if len(self.records) > 50:
            lines.append(f"  … and {len(self.records) - 50} more records")
        return lines


class _Walk:
    """Counts the links as the check walks them (they stream from a cursor: a long chain is not held)."""

    def __init__(self, head: int) -> None:
        self.count, self.head = 0, head

    def links(self, rows: Iterable[tuple[Any, ...]]) -> Iterator[Link]:
        for row in rows:
            link = Link(*row)
            self.count, self.head = self.count + 1, link.seq
            yield link


def verify_tenant(wh: Warehouse, tenant_id: str, since: date | None = None,
                  tables: list[store.ChainedTable] | None = None, workers: int | None = None,
                  tick_tenants: set[str] | None = None) -> TenantVerdict:
    """The whole chain of a tenant, or (with `since`) from the last checkpoint before that day — trusted as the
    start — to its head. The records are checked in `workers` parts at once, each on its own connection (every
    row's hash is recomputed by the database: that is the cost, and it spreads over the cores), while this thread
    walks the links."""
    workers = workers or _workers()
    with wh.connect() as conn:
        tables = tables if tables is not None else store.chained_tables(conn)
        tick_tenants = tick_tenants if tick_tenants is not None else store.tick_tenants(conn)
        start = store.checkpoint_before(conn, tenant_id, since) if since else None
        after_seq = start[0] if start else 0
        parts = workers
        if after_seq:
            # From a checkpoint only the records linked after it are compared: a table with no such link has
            # nothing to check (a run with nothing new verifies in a few queries, not tenants × tables × parts).
            linked = store.linked_after(conn, tenant_id, after_seq)
            tables = [t for t in tables if t.name in linked]
            tick_tenants = tick_tenants if store.TICK_TABLE in linked else set()
            # Each part reads the tenant's whole table to find its keys; splitting pays only where hashing many
            # records is the cost. A day's few thousand: one part per table (the tables still run side by side).
            if sum(linked.values()) < SPLIT_FROM_RECORDS:
                parts = 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = [pool.submit(_check_records, wh, tenant_id, table, after_seq, part, parts)
                  for table in tables for part in range(parts)]
        if tenant_id in tick_tenants:  # ticks are market data: the public tenant's, not every client's
            checks.append(pool.submit(_check_ticks, wh, tenant_id, after_seq))
        with wh.connect() as conn:
            walk = _Walk(after_seq)
            broken = first_break(walk.links(store.links(conn, tenant_id, after_seq)), after=start)
            problem = _checkpoint_problem(conn, tenant_id) if broken is None else None
        records = sorted((m for check in checks for m in check.result()),
                         key=lambda m: (m.seq is not None, m.seq or 0, m.table_name, m.record_key))
    return TenantVerdict(tenant_id, walk.count, walk.head, broken, records[:_RECORD_LIMIT], problem)


SPLIT_FROM_RECORDS = 100_000  # records linked after the checkpoint from which a table's check is split in parts
_RECORD_LIMIT = 1000  # records named per tenant: past this, the break is plain and the list would only scroll


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _check_ticks(wh: Warehouse, tenant_id: str, after_seq: int) -> list[RecordMismatch]:
    with wh.connect() as conn:
        return store.tick_mismatches(conn, tenant_id, after_seq, limit=_RECORD_LIMIT)


def _check_records(wh: Warehouse, tenant_id: str, table: store.ChainedTable, after_seq: int, part: int,
                   parts: int) -> list[RecordMismatch]:
    with wh.connect() as conn:
        return store.record_mismatches(conn, tenant_id, table, after_seq, part, parts, limit=_RECORD_LIMIT)


def _checkpoint_problem(conn: psycopg.Connection, tenant_id: str) -> str | None:
    """A stored checkpoint whose link no longer has the hash it had: the chain was rewritten after it."""
    row = conn.execute(
        """select k.day, k.seq from audit.checkpoints k
             left join audit.chain c on c.tenant_id = k.tenant_id and c.seq = k.seq
            where k.tenant_id = %s and k.seq > 0 and (c.hash is null or c.hash <> k.hash)
            order by k.day limit 1""", (tenant_id,)).fetchone()
    if row is None:
        return None
    day, seq = row
    return f"the checkpoint of {day} (link #{seq}) no longer matches the chain: it was rewritten after that day"


def verify(wh: Warehouse, tenant_id: str | None = None, since: date | None = None) -> list[TenantVerdict]:
    chosen = [tenant_id] if tenant_id else store.tenants(wh)
    with wh.connect() as conn:
        tables = store.chained_tables(conn)  # the catalog read once, whatever the number of tenants
        ticks = store.tick_tenants(conn)
    return [verify_tenant(wh, tenant, since, tables, tick_tenants=ticks) for tenant in chosen]


AUDIT_ALERT_KIND = "audit_chain_broken"


def nightly_verification(wh: Warehouse, now: datetime) -> tuple[list[TenantVerdict], int]:
    """What the nightly run does: each tenant's chain verified from its last checkpoint (today's, when a run
    earlier today wrote it; the whole chain when there is none), today's checkpoint written for each intact chain
    at the head it verified (the first one written for a day stands), a critical alert per broken one (resolved
    once it verifies again). Returns the verdicts and the checkpoints written."""
    today = now.astimezone(UTC).date()
    verdicts = verify(wh, since=today + timedelta(days=1))
    alerts = [Alert(v.tenant_id, AUDIT_ALERT_KIND, "critical", "audit chain",
                    "the audit chain does not verify: " + "; ".join(line.strip() for line in v.describe()[1:4]),
                    {"first_broken_link": v.broken_link.seq if v.broken_link else None,
                     "records": [f"{m.table_name} {m.record_key}" for m in v.records[:20]]})
              for v in verdicts if not v.intact]
    sync_alerts(wh, [AUDIT_ALERT_KIND], alerts, now)
    written = store.write_checkpoints_at(wh, today, {v.tenant_id: v.head_seq for v in verdicts if v.intact})
    return verdicts, written
