"""Source freshness: which (account, endpoint) has not synced successfully within its limit → ops.alerts.

`stale_sources` is pure; `evaluate_freshness` reads ops.sync_log and ops.freshness_limits, raises an alert
per stale source (one open alert per subject, refreshed while it lasts) and resolves the alerts of sources
that are fresh again. The `stale_sources` sensor and `coinbook run` call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.alerts import Alert, sync_alerts
from pipelines.resources.warehouse import Warehouse
from pipelines.sources.exchanges.venues import profile

ENDPOINTS = ("balances", "transfers", "trades")
ALERT_KIND = "stale_source"


@dataclass(frozen=True)
class SourceState:
    tenant_id: str
    account_id: str
    venue: str
    endpoint: str
    last_ok: datetime | None       # last successful sync
    last_error: str | None         # the latest failure's message, if the latest attempt failed


@dataclass(frozen=True)
class StaleSource:
    state: SourceState
    limit: timedelta
    age: timedelta | None          # None: never synced successfully

    @property
    def subject(self) -> str:
        return f"{self.state.venue}:{self.state.account_id}:{self.state.endpoint}"

    @property
    def message(self) -> str:
        s = self.state
        when = "never synced successfully" if self.age is None else f"last synced {_human(self.age)} ago"
        cause = f"; latest error: {s.last_error}" if s.last_error else ""
        return f"{s.venue} {s.endpoint} of {s.account_id} is stale: {when} (limit {_human(self.limit)}){cause}"


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds // 60} min"


def freshness_limit(limits: dict[tuple[str, str, str, str], timedelta], tenant_id: str, venue: str,
                    account_id: str, endpoint: str) -> timedelta:
    """The most specific configured limit (tenant > '*', account > '*', endpoint > '*'), else the venue's."""
    for key in ((tenant_id, venue, account_id, endpoint), (tenant_id, venue, account_id, "*"),
                (tenant_id, venue, "*", endpoint), (tenant_id, venue, "*", "*"),
                ("*", venue, account_id, endpoint), ("*", venue, "*", endpoint), ("*", venue, "*", "*")):
        if key in limits:
            return limits[key]
    return timedelta(seconds=profile(venue).freshness_limit_s)


def stale_sources(states: list[SourceState], limits: dict[tuple[str, str, str, str], timedelta],
                  now: datetime) -> list[StaleSource]:
    out = []
    for s in states:
        limit = freshness_limit(limits, s.tenant_id, s.venue, s.account_id, s.endpoint)
        age = None if s.last_ok is None else now - s.last_ok
        if age is None or age > limit:
            out.append(StaleSource(s, limit, age))
    return out


def source_states(wh: Warehouse) -> list[SourceState]:
    """Every enabled account × endpoint, with its last success and its latest failure (if it is the latest)."""
    with wh.connect() as conn:
        rows = conn.execute(
            """
            with endpoints(endpoint) as (select unnest(%s::text[]))
            select a.tenant_id, a.account_id, a.venue, e.endpoint,
                   (select max(l.finished_at) from ops.sync_log l
                     where l.tenant_id = a.tenant_id and l.account_id = a.account_id and l.endpoint = e.endpoint
                       and l.status = 'ok') as last_ok,
                   (select case when l.status = 'failed' then l.error end from ops.sync_log l
                     where l.tenant_id = a.tenant_id and l.account_id = a.account_id and l.endpoint = e.endpoint
                       and l.status <> 'running'
                     order by l.started_at desc limit 1) as last_error
            from ops.accounts a cross join endpoints e
            where a.enabled and a.kind = 'exchange'
            order by 1, 2, 4
            """,
            (list(ENDPOINTS),),
        ).fetchall()
    return [SourceState(*row) for row in rows]


def freshness_limits(wh: Warehouse) -> dict[tuple[str, str, str, str], timedelta]:
    with wh.connect() as conn:
        rows = conn.execute("select tenant_id, venue, account_id, endpoint, max_age from ops.freshness_limits")
        return {(t, v, a, e): age for t, v, a, e, age in rows.fetchall()}


def evaluate_freshness(wh: Warehouse, now: datetime) -> tuple[int, int]:
    """Raise or refresh an alert per stale source, resolve the rest; returns (open, resolved)."""
    stale = stale_sources(source_states(wh), freshness_limits(wh), now)
    alerts = [Alert(s.state.tenant_id, ALERT_KIND,
                    "critical" if s.age is None or s.age > 4 * s.limit else "warning", s.subject, s.message,
                    {"venue": s.state.venue, "account_id": s.state.account_id, "endpoint": s.state.endpoint,
                     "limit_s": int(s.limit.total_seconds()),
                     "age_s": None if s.age is None else int(s.age.total_seconds())}) for s in stale]
    with wh.connect() as conn, conn.transaction():
        return sync_alerts(conn, [ALERT_KIND], alerts, now)
