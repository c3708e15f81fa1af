"""Writes of alerting: ops.alerts (one open alert per tenant, kind and subject, refreshed while the condition
lasts, resolved when an evaluation no longer raises it) and ops.alert_notifications (every attempt to send one).
Alerts come in as any object with tenant_id, kind, severity, subject, message and details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from warehouse.connection import Warehouse


class AlertRow(Protocol):
    tenant_id: str
    kind: str
    severity: str
    subject: str
    message: str
    details: dict[str, Any]


def sync_alerts(wh: Warehouse, kinds: Sequence[str], raised: Iterable[AlertRow], now: datetime,
                tenants: Sequence[str] | None = None) -> tuple[int, int]:
    """Raise or refresh every alert in `raised`; resolve the open alerts of `kinds` (of `tenants`, if given)
    that were not raised again — in one transaction. Returns (open, resolved)."""
    raised = list(raised)
    with wh.connect() as conn, conn.transaction():
        for a in raised:
            conn.execute(
                """insert into ops.alerts (tenant_id, kind, severity, subject, message, details, raised_at,
                                           last_seen_at)
                   values (%s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (tenant_id, kind, subject) where resolved_at is null
                   do update set message = excluded.message, details = excluded.details,
                                 severity = excluded.severity, last_seen_at = excluded.last_seen_at""",
                (a.tenant_id, a.kind, a.severity, a.subject, a.message, Jsonb(a.details), now, now))
        still = {(a.tenant_id, a.kind, a.subject) for a in raised}
        resolved = 0
        for tenant_id, alert_id, kind, subject in conn.execute(
                "select tenant_id, alert_id, kind, subject from ops.alerts where kind = any(%s) "
                "and resolved_at is null", (list(kinds),)).fetchall():
            if (tenant_id, kind, subject) in still or (tenants is not None and tenant_id not in tenants):
                continue
            conn.execute("update ops.alerts set resolved_at = %s where tenant_id = %s and alert_id = %s",
                         (now, tenant_id, alert_id))
            resolved += 1
    return len(raised), resolved


def record_notification(conn: psycopg.Connection[Any], *, tenant_id: str, alert_id: int, event: str,
                        target_key: str, target: str, error: str | None, at: datetime) -> None:
    """One attempt to send an alert event to a target: 'sent', or 'failed' with the (masked) error. On the
    dispatcher's autocommit connection, so an attempt is recorded the moment it is made."""
    conn.execute(
        """insert into ops.alert_notifications (tenant_id, alert_id, event, target_key, target, status, error,
                                                attempted_at)
           values (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (tenant_id, alert_id, event, target_key, target, "sent" if error is None else "failed", error, at))
