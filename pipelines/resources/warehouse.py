"""The pipelines' access to the warehouse: accounts, cursors, page loads and the sync log.

Each page of rows is loaded together with its cursor in one transaction: a run killed between two pages
resumes after the last committed one, and the loader's ON CONFLICT makes any overlap harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from dagster import ConfigurableResource
from psycopg.types.json import Jsonb

from pipelines.sources.exchanges.client import ExchangeAccount, split_partition_key
from pipelines.sources.exchanges.normalise import RAW_COLUMNS, as_tuples
from pipelines.sources.exchanges.sync import Page
from warehouse.loader import copy_insert


def raw_table(venue: str, entity: str) -> str:
    return f"raw.{venue}_{entity}"


@dataclass
class SyncTotals:
    fetched: int = 0
    inserted: int = 0
    pages: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)


class Warehouse:
    """Plain object (no Dagster) so the CLI, sensors and tests share it."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url)

    # ── accounts ──────────────────────────────────────────────────────────────────────────────────────
    def accounts(self, venue: str | None = None, *, enabled_only: bool = True,
                 kinds: tuple[str, ...] = ("exchange",)) -> list[ExchangeAccount]:
        query = """
            select tenant_id, account_id, portfolio_id, venue, mode, credential_ref,
                   (extract(epoch from history_start) * 1000)::bigint, settings
            from ops.accounts
            where kind = any(%(kinds)s) and (%(venue)s::text is null or venue = %(venue)s)
              and (enabled or not %(enabled_only)s)
            order by tenant_id, account_id
        """
        with self.connect() as conn:
            rows = conn.execute(query, {"venue": venue, "enabled_only": enabled_only,
                                        "kinds": list(kinds)}).fetchall()
        return [ExchangeAccount(t, a, p, v, m, c, h, s or {}) for t, a, p, v, m, c, h, s in rows]

    def account(self, partition: str) -> ExchangeAccount:
        tenant_id, account_id = split_partition_key(partition)
        for account in self.accounts(enabled_only=False, kinds=("exchange", "wallet", "defi")):
            if (account.tenant_id, account.account_id) == (tenant_id, account_id):
                return account
        raise LookupError(f"no account {account_id!r} for tenant {tenant_id!r} in ops.accounts")

    # ── incremental state ─────────────────────────────────────────────────────────────────────────────
    def cursors(self, tenant_id: str, account_id: str) -> dict[str, dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute(
                "select endpoint, cursor from ops.sync_cursors where tenant_id = %s and account_id = %s",
                (tenant_id, account_id),
            ).fetchall()
        return {endpoint: cursor for endpoint, cursor in rows}

    def store_page(self, page: Page, *, venue: str, tenant_id: str, account_id: str, run_id: str | None) -> int:
        """Load the page's rows and advance its cursor atomically; returns rows newly inserted."""
        with self.connect() as conn, conn.transaction():
            inserted = copy_insert(conn, raw_table(venue, page.entity), RAW_COLUMNS[page.entity],
                                   as_tuples(page.rows, page.entity)) if page.rows else 0
            for gap in page.gaps:
                conn.execute(
                    """insert into ops.history_gaps (tenant_id, account_id, source, endpoint, gap_start, gap_end,
                                                     reason)
                       values (%s, %s, %s, %s, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0), %s)
                       on conflict (tenant_id, account_id, source, endpoint, gap_start)
                       do update set gap_end = excluded.gap_end, reason = excluded.reason""",
                    (tenant_id, account_id, venue, gap.endpoint, gap.start_ms, gap.end_ms, gap.reason),
                )
            if page.cursor is not None:
                conn.execute(
                    """
                    insert into ops.sync_cursors (tenant_id, account_id, endpoint, cursor, run_id, updated_at)
                    values (%s, %s, %s, %s, %s, now())
                    on conflict (tenant_id, account_id, endpoint)
                    do update set cursor = excluded.cursor, run_id = excluded.run_id, updated_at = now()
                    """,
                    (tenant_id, account_id, page.endpoint, Jsonb(page.cursor), run_id),
                )
        return inserted

    def store_rows(self, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]], *, tenant_id: str,
                   account_id: str, run_id: str | None, cursors: dict[str, Any] | None = None) -> int:
        """Load canonical rows (dicts) into `table` and store the cursors, in one transaction."""
        full = ("tenant_id", "account_id", *columns, "run_id")
        values = [(tenant_id, account_id, *(r.get(c) for c in columns), run_id) for r in rows]
        with self.connect() as conn, conn.transaction():
            inserted = copy_insert(conn, table, full, values) if values else 0
            for endpoint, cursor in (cursors or {}).items():
                conn.execute(
                    """insert into ops.sync_cursors (tenant_id, account_id, endpoint, cursor, run_id, updated_at)
                       values (%s, %s, %s, %s, %s, now())
                       on conflict (tenant_id, account_id, endpoint)
                       do update set cursor = excluded.cursor, run_id = excluded.run_id, updated_at = now()""",
                    (tenant_id, account_id, endpoint, Jsonb(cursor), run_id))
        return inserted

    def store_pages(self, pages: Iterator[Page], *, venue: str, tenant_id: str, account_id: str,
                    run_id: str | None) -> SyncTotals:
        totals = SyncTotals()
        for page in pages:
            inserted = self.store_page(page, venue=venue, tenant_id=tenant_id, account_id=account_id, run_id=run_id)
            totals.fetched += len(page.rows)
            totals.inserted += inserted
            totals.pages += 1
            totals.by_endpoint[page.endpoint] = totals.by_endpoint.get(page.endpoint, 0) + inserted
        return totals

    @contextmanager
    def sync_log(self, *, tenant_id: str, account_id: str, source: str, endpoint: str,
                 run_id: str | None) -> Iterator[dict[str, Any]]:
        """Record one sync in ops.sync_log: 'running', then 'ok' with counts, or 'failed' with the error."""
        stats: dict[str, Any] = {"fetched": 0, "inserted": 0, "api_calls": 0}
        with self.connect() as conn:
            sync_id = conn.execute(
                """insert into ops.sync_log (tenant_id, account_id, source, endpoint, run_id, started_at, status)
                   values (%s, %s, %s, %s, %s, %s, 'running') returning sync_id""",
                (tenant_id, account_id, source, endpoint, run_id, datetime.now(UTC)),
            ).fetchone()[0]
        status, error = "ok", None
        try:
            yield stats
        except BaseException as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            raise
        finally:
            with self.connect() as conn:
                conn.execute(
                    """update ops.sync_log set finished_at = %s, status = %s, error = %s,
                              fetched = %s, inserted = %s, api_calls = %s
                       where tenant_id = %s and sync_id = %s""",
                    (datetime.now(UTC), status, error, stats["fetched"], stats["inserted"], stats["api_calls"],
                     tenant_id, sync_id),
                )

    def latest_balance_snapshot(self, venue: str, tenant_id: str, account_id: str) -> str | None:
        """The amounts digest of the account's last stored untimed balance snapshot."""
        with self.connect() as conn:
            row = conn.execute(
                f"""select payload->>'snapshot' from {raw_table(venue, 'balances')}
                    where tenant_id = %s and account_id = %s
                    order by observed_at desc nulls last, ingested_at desc limit 1""",
                (tenant_id, account_id),
            ).fetchone()
        return row[0] if row else None

    def quarantine_response(self, *, tenant_id: str, account_id: str, venue: str, entity: str, endpoint: str,
                            url: str, status: int | None, body: str, digest: str, reason: str,
                            run_id: str | None) -> None:
        """A response that could not be parsed even after retries: kept whole, with the reason."""
        evidence = Jsonb({"url": url, "status": status, "body": body[:100_000].replace("\x00", "")})
        with self.connect() as conn:
            conn.execute(
                """insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id,
                                               record_hash, payload, check_name, reason, run_id)
                   values (%s, %s, %s, %s, %s, %s, %s, 'unparseable_response', %s, %s)
                   on conflict do nothing""",
                (tenant_id, account_id, venue, raw_table(venue, entity), f"response:{endpoint}:{digest[:16]}",
                 digest, evidence, reason, run_id),
            )

    def record_api_usage(self, venue: str, calls: int, retries: int) -> None:
        if not calls and not retries:
            return
        with self.connect() as conn:
            conn.execute(
                """insert into ops.api_usage (tenant_id, venue, minute, calls, retries)
                   values ('public', %s, date_trunc('minute', now()), %s, %s)
                   on conflict (tenant_id, venue, minute)
                   do update set calls = ops.api_usage.calls + excluded.calls,
                                 retries = ops.api_usage.retries + excluded.retries""",
                (venue, calls, retries),
            )

    # ── what the account holds or held (for symbol discovery) ─────────────────────────────────────────
    def known_assets(self, venue: str, tenant_id: str | None = None, account_id: str | None = None) -> set[str]:
        params = {"t": tenant_id, "a": account_id}
        scope = "(%(t)s::text is null or tenant_id = %(t)s) and (%(a)s::text is null or account_id = %(a)s)"
        query = f"""
            select asset from raw.{venue}_balances where total > 0 and {scope}
            union select asset from raw.{venue}_transfers where {scope}
            union select base_asset from raw.{venue}_trades where {scope}
            union select quote_asset from raw.{venue}_trades where {scope}
        """
        with self.connect() as conn:
            return {r[0] for r in conn.execute(query, params).fetchall() if r[0]}

    def history_start_ms(self, venue: str) -> int | None:
        with self.connect() as conn:
            row = conn.execute(
                "select (extract(epoch from min(history_start)) * 1000)::bigint from ops.accounts where venue = %s",
                (venue,),
            ).fetchone()
        return row[0] if row else None



class WarehouseResource(ConfigurableResource):
    """Dagster resource: where the warehouse is. Everything else lives in `Warehouse`."""

    database_url: str

    def get(self) -> Warehouse:
        return Warehouse(self.database_url)
