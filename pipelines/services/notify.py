"""Alerts out: every alert raised into ops.alerts (and, for targets that want it, its resolution) is sent to the
tenant's notification targets through apprise — webhooks (json://, form://), e-mail (mailto://), chat
(slack://, msteams://, discord://, telegram://, …) with one URL syntax.

Targets: the global ones in COINBOOK_NOTIFY_URLS (apprise URLs, separated by whitespace or commas; every tenant's
alerts of at least COINBOOK_NOTIFY_MIN_SEVERITY, default 'warning'; given as a `NotifySettings`) plus each
tenant's rows in ops.notification_targets (a URL or env:<VAR>, a minimum severity, optionally a list of kinds).

Every attempt is a row in ops.alert_notifications: a 'sent' (alert, event, target) is never sent again, a
'failed' one is tried again on the next evaluation until MAX_ATTEMPTS failures. The target is stored as a
sha256 key and apprise's privacy form of the URL (tokens and passwords masked), never the URL itself.
A target that fails — unreachable, refusing, malformed — is logged and recorded; it never fails the run.

Delivery is at least once: a run killed between a send and its record sends that one again next time.

The pure parts — message formatting, target matching, what is due — are separate functions, unit-tested.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.domain.alerts import Alert
from warehouse.alerts import record_notification
from warehouse.connection import Warehouse

LOG = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
MAX_ATTEMPTS = 5  # failures of one (alert, event, target) before it is given up (the rows stay as the record)
SEND_TIMEOUT_S = 15.0  # one target's whole call: a hanging webhook must not stall the pipeline
# Serialises dispatchers (the risk asset, the freshness sensor, `coinbook run` may evaluate at the same time),
# so two of them cannot both find the same alert due and send it twice.
ADVISORY_LOCK_KEY = 0x0C0B0A1E
DETAIL_LIMIT = 12  # key details in a message body; the rest is in ops.alerts.details


# ── pure: targets ──────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Target:
    key: str  # sha256 of the URL: identifies the target in ops.alert_notifications without its secret
    label: str  # the URL with its secrets masked, for people
    url: str = field(repr=False)  # never logged, never stored
    min_severity: str = "warning"
    kinds: frozenset[str] | None = None  # None: every kind
    notify_resolved: bool = True
    tenant_id: str | None = None  # None: a global target (every tenant)


def split_urls(text: str | None) -> list[str]:
    """COINBOOK_NOTIFY_URLS → URLs (whitespace or commas between them; commas inside a URL's query survive
    because apprise URLs never contain whitespace and a URL has a scheme)."""
    if not text:
        return []
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    urls: list[str] = []
    for part in parts:
        if "://" in part or not urls:
            urls.append(part)
        else:  # a comma inside the previous URL's query (e.g. mailto://…?to=a@x,b@y)
            urls[-1] += "," + part
    return urls


def target_key(url: str) -> str:
    return hashlib.sha256(b"coinbook-notify:" + url.encode()).hexdigest()


def redact_url(url: str) -> str:
    """apprise's own privacy form (it knows which part of each service's URL is secret); a URL apprise cannot
    read keeps only its scheme."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return url.partition("://")[0] + "://(unreadable URL)"
    return str(plugin.url(privacy=True))


def scrub(text: str, url: str, label: str) -> str:
    """Mask in `text` every piece of `url` that its redacted `label` does not show (tokens, passwords), so an
    error message from a service cannot carry a secret into a log or a table."""
    for piece in sorted(set(re.split(r"[/:@?&=#,]+", url.partition("://")[2])), key=len, reverse=True):
        if len(piece) >= 4 and piece not in label:
            text = text.replace(piece, "****")
    return text


def wants(target: Target, alert: Alert) -> bool:
    """Does this target take this alert? Same tenant (or global), severe enough, a kind it listens to."""
    if target.tenant_id is not None and target.tenant_id != alert.tenant_id:
        return False
    if SEVERITY_RANK.get(alert.severity, 0) < SEVERITY_RANK.get(target.min_severity, 1):
        return False
    return target.kinds is None or alert.kind in target.kinds


def is_due(statuses: Sequence[str], cap: int = MAX_ATTEMPTS) -> bool:
    """The attempts so far of one (alert, event, target): due unless one was sent or `cap` have failed."""
    return "sent" not in statuses and sum(s == "failed" for s in statuses) < cap


# ── pure: the message ──────────────────────────────────────────────────────────────────────────────────────
def _detail(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def format_message(alert: Alert, event: str = "raised", raised_at: datetime | None = None,
                   resolved_at: datetime | None = None) -> tuple[str, str]:
    """(title, body) of a notification: what, for whom, how bad, about what, since when, and the key details."""
    state = "RESOLVED" if event == "resolved" else alert.severity.upper()
    title = f"[Coinbook {state}] {alert.tenant_id}: {alert.kind.replace('_', ' ')} — {alert.subject}"
    lines = [("Resolved: " if event == "resolved" else "") + alert.message, "",
             f"tenant: {alert.tenant_id}", f"kind: {alert.kind}", f"severity: {alert.severity}",
             f"subject: {alert.subject}"]
    if raised_at is not None:
        lines.append(f"raised at: {raised_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    if resolved_at is not None:
        lines.append(f"resolved at: {resolved_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    shown = sorted((k, v) for k, v in alert.details.items() if v is not None and not isinstance(v, dict))
    lines += [f"{k}: {_detail(v)}" for k, v in shown[:DETAIL_LIMIT]]
    if len(shown) > DETAIL_LIMIT:
        lines.append(f"(+{len(shown) - DETAIL_LIMIT} more details in ops.alerts)")
    return title, "\n".join(lines)


def notify_type(alert: Alert, event: str) -> str:
    """apprise's notify type (the colour/icon chat services show)."""
    if event == "resolved":
        return "success"
    return {"critical": "failure", "warning": "warning"}.get(alert.severity, "info")


# ── pure: what is due ──────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class AlertEvent:
    alert_id: int
    alert: Alert
    event: str  # raised | resolved
    raised_at: datetime | None = None
    resolved_at: datetime | None = None


History = Mapping[tuple[str, int, str, str], Sequence[str]]  # (tenant, alert_id, event, target key) → statuses


def plan(events: Iterable[AlertEvent], targets: Sequence[Target], history: History,
         cap: int = MAX_ATTEMPTS) -> list[tuple[AlertEvent, Target]]:
    """Every (event, target) to attempt now. A resolution goes only to a target that was sent the raise (and
    wants resolutions): it answers a message someone received, never one about an alert they were not told of."""
    due = []
    for ev in events:
        a = ev.alert
        for t in targets:
            if not wants(t, a):
                continue
            if ev.event == "resolved" and (not t.notify_resolved
                                           or "sent" not in history.get((a.tenant_id, ev.alert_id, "raised", t.key),
                                                                        ())):
                continue
            if is_due(history.get((a.tenant_id, ev.alert_id, ev.event, t.key), ()), cap):
                due.append((ev, t))
    return due


# ── I/O: targets, sending, the record ──────────────────────────────────────────────────────────────────────
def make_target(url: str, *, min_severity: str = "warning", kinds: Iterable[str] | None = None,
                notify_resolved: bool = True, tenant_id: str | None = None) -> Target:
    return Target(target_key(url), redact_url(url), url, min_severity,
                  None if kinds is None else frozenset(kinds), notify_resolved, tenant_id)


@dataclass(frozen=True)
class NotifySettings:
    """The global targets: apprise URLs (COINBOOK_NOTIFY_URLS) and the least severity they get."""

    urls: str | None = field(default=None, repr=False)
    min_severity: str = "warning"


def global_targets(settings: NotifySettings) -> list[Target]:
    min_severity = settings.min_severity.strip().lower() or "warning"
    if min_severity not in SEVERITY_RANK:
        LOG.warning("COINBOOK_NOTIFY_MIN_SEVERITY=%r is not info|warning|critical; using 'warning'", min_severity)
        min_severity = "warning"
    return [make_target(u, min_severity=min_severity) for u in split_urls(settings.urls)]


def resolve_url(ref: str, env: Mapping[str, str] = os.environ) -> str | None:
    """A stored target: a URL as it is, or env:<VAR> → that variable's value (None when unset)."""
    if ref.startswith("env:"):
        return env.get(ref[4:]) or None
    return ref


def tenant_targets(conn: Any, env: Mapping[str, str] = os.environ) -> list[Target]:
    out = []
    for tenant, target_id, ref, min_severity, kinds, resolved in conn.execute(
            """select tenant_id, target_id, url, min_severity, kinds, notify_resolved
               from ops.notification_targets where enabled order by tenant_id, target_id""").fetchall():
        url = resolve_url(ref, env)
        if url is None:
            LOG.warning("notification target %s/%s: %s is not set; skipped", tenant, target_id, ref)
            continue
        out.append(make_target(url, min_severity=min_severity, kinds=kinds, notify_resolved=resolved,
                               tenant_id=tenant))
    return out


def send(target: Target, title: str, body: str, kind: str) -> str | None:
    """Send one message; None when the service accepted it, else why not (secrets masked)."""
    import apprise

    try:
        sender = apprise.Apprise()
        if not sender.add(target.url):
            return "apprise cannot read this URL (unknown scheme or missing parts)"
        result = sender.notify(body=body, title=title, notify_type=kind, timeout=SEND_TIMEOUT_S)
    except Exception as exc:  # a broken plugin or URL must not fail the run: it is this target's failure
        return scrub(f"{type(exc).__name__}: {exc}", target.url, target.label)
    if result:
        return None
    messages = [entry.message for service in result for attempt in service for entry in attempt
                if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    status = getattr(result.status, "name", str(result.status))
    return scrub("; ".join(messages[-3:]) or f"apprise status {status}", target.url, target.label)[:1000]


@dataclass
class NotifyReport:
    sent: int = 0
    failed: int = 0
    error: str | None = None  # the dispatch itself could not run (logged; the run goes on)

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.failed} failed"
        return f"{text} (notifications not evaluated: {self.error})" if self.error else text


def _events(conn: Any, kinds: Sequence[str] | None) -> list[AlertEvent]:
    """Open alerts (their raise is due) and resolved alerts some target was told of (their resolution is due)."""
    rows = conn.execute(
        """select a.alert_id, a.tenant_id, a.kind, a.severity, a.subject, a.message, a.details, a.raised_at,
                  a.resolved_at
           from ops.alerts a
           where (%(kinds)s::text[] is null or a.kind = any(%(kinds)s::text[]))
             and (a.resolved_at is null
                  or exists (select 1 from ops.alert_notifications n
                             where n.tenant_id = a.tenant_id and n.alert_id = a.alert_id and n.event = 'raised'
                               and n.status = 'sent')
                     and not exists (select 1 from ops.alert_notifications n
                                     where n.tenant_id = a.tenant_id and n.alert_id = a.alert_id
                                       and n.event = 'resolved' and n.status = 'sent'))
           order by a.raised_at, a.alert_id""",
        {"kinds": None if kinds is None else list(kinds)}).fetchall()
    return [AlertEvent(alert_id, Alert(tenant, kind, severity, subject, message, details or {}),
                       "raised" if resolved_at is None else "resolved", raised_at, resolved_at)
            for alert_id, tenant, kind, severity, subject, message, details, raised_at, resolved_at in rows]


def _history(conn: Any, events: Sequence[AlertEvent]) -> dict[tuple[str, int, str, str], list[str]]:
    history: dict[tuple[str, int, str, str], list[str]] = {}
    if not events:
        return history
    for tenant, alert_id, event, key, status in conn.execute(
            """select tenant_id, alert_id, event, target_key, status from ops.alert_notifications
               where alert_id = any(%s) order by notification_id""",
            ([e.alert_id for e in events],)).fetchall():
        history.setdefault((tenant, alert_id, event, key), []).append(status)
    return history


def dispatch(conn: Any, targets: Sequence[Target], kinds: Sequence[str] | None = None) -> NotifyReport:
    """Send what is due to `targets`, recording each attempt as it happens (autocommit: a crash mid-way keeps
    what was already sent from being sent again)."""
    report = NotifyReport()
    conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        events = _events(conn, kinds)
        for ev, target in plan(events, targets, _history(conn, events)):
            title, body = format_message(ev.alert, ev.event, ev.raised_at, ev.resolved_at)
            error = send(target, title, body, notify_type(ev.alert, ev.event))
            if error is None:
                report.sent += 1
            else:
                report.failed += 1
                LOG.warning("notification of alert %s (%s %s) to %s failed: %s", ev.alert_id, ev.alert.kind,
                            ev.event, target.label, error)
            record_notification(conn, tenant_id=ev.alert.tenant_id, alert_id=ev.alert_id, event=ev.event,
                                target_key=target.key, target=target.label, error=error, at=datetime.now(UTC))
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return report


def notify_alerts(wh: Warehouse, settings: NotifySettings, kinds: Sequence[str] | None = None,
                  env: Mapping[str, str] = os.environ) -> NotifyReport:
    """After alerts were synced: send every due raise and resolution (of `kinds`, or all) to every target.
    Never raises: a problem here is logged and reported, and the caller's run goes on."""
    try:
        with wh.connect() as conn:
            conn.autocommit = True
            targets = global_targets(settings) + tenant_targets(conn, env)
            if not targets:
                return NotifyReport()
            return dispatch(conn, targets, kinds)
    except Exception as exc:
        LOG.exception("alert notifications could not be evaluated")
        return NotifyReport(error=f"{type(exc).__name__}: {exc}"[:500])
