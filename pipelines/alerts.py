"""ops.alerts: one open alert per (tenant, kind, subject), refreshed while the condition lasts (last_seen_at,
message, details), resolved when an evaluation no longer raises it. Freshness and risk both report through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Alert:
    tenant_id: str
    kind: str
    severity: str  # info | warning | critical
    subject: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def sync_alerts(conn: psycopg.Connection[Any], kinds: Sequence[str], raised: Iterable[Alert], now: datetime,
                tenants: Sequence[str] | None = None) -> tuple[int, int]:
    """Raise or refresh every alert in `raised`; resolve the open alerts of `kinds` (of `tenants`, if given)
    that were not raised again. Returns (open, resolved). Runs in the caller's transaction."""
    raised = list(raised)
    for a in raised:
        conn.execute(
            """insert into ops.alerts (tenant_id, kind, severity, subject, message, details, raised_at, last_seen_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (tenant_id, kind, subject) where resolved_at is null
               do update set message = excluded.message, details = excluded.details,
                             severity = excluded.severity, last_seen_at = excluded.last_seen_at""",
            (a.tenant_id, a.kind, a.severity, a.subject, a.message, Jsonb(a.details), now, now))
    still = {(a.tenant_id, a.kind, a.subject) for a in raised}
    resolved = 0
    for tenant_id, alert_id, kind, subject in conn.execute(
            "select tenant_id, alert_id, kind, subject from ops.alerts where kind = any(%s) and resolved_at is null",
            (list(kinds),)).fetchall():
        if (tenant_id, kind, subject) in still or (tenants is not None and tenant_id not in tenants):
            continue
        conn.execute("update ops.alerts set resolved_at = %s where tenant_id = %s and alert_id = %s",
                     (now, tenant_id, alert_id))
        resolved += 1
    return len(raised), resolved
