"""Large and unhosted transfers and the KYC register (issue 16 §2): thresholds and register entries checked
(domain/compliance.py) and written (warehouse/compliance.py), the register read for `coinbook compliance kyc list`,
the KYC alerts of the nightly run, and `kyc_flag`, the line every report prints for a tenant without valid KYC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pipelines.constants import DEFAULT_LARGE_TRANSFER, DEFAULT_UNHOSTED_TRANSFER, PUBLIC_TENANT
from pipelines.domain import compliance as rules
from pipelines.domain.compliance import KYC_DUE_KIND, KYC_INVALID_KIND, KYC_OVERDUE_KIND, KycStatus
from warehouse import compliance as store
from warehouse.alerts import sync_alerts
from warehouse.connection import Warehouse

KYC_ALERT_KINDS = [KYC_OVERDUE_KIND, KYC_INVALID_KIND, KYC_DUE_KIND]


@dataclass(frozen=True)
class Thresholds:
    tenant_id: str
    currency: str
    large: Decimal
    unhosted: Decimal
    set_at: datetime | None  # None: the defaults
    recorded_by: str | None


@dataclass(frozen=True)
class SubjectRow:
    """A subject of the register as it is now, with its latest review."""

    tenant_id: str
    subject_id: str
    kind: str
    name: str
    ownership_pct: Decimal | None
    country: str | None
    status: str | None
    verified_at: date | None
    risk_rating: str | None
    next_review_due: date | None
    documents: list[str]
    recorded_by: str | None
    recorded_at: datetime | None
    overdue: bool


def _known_tenant(conn: Any, tenant_id: str) -> tuple[str, str]:
    row = conn.execute("select name, base_currency from ops.tenants where tenant_id = %s", (tenant_id,)).fetchone()
    if row is None or tenant_id == PUBLIC_TENANT:
        raise LookupError(f"no tenant {tenant_id!r} (see `coinbook accounts list`)")
    return row


def thresholds(wh: Warehouse, tenant_id: str | None = None) -> list[Thresholds]:
    """Each tenant's thresholds now: its latest ops.compliance_thresholds row, else the defaults (its base currency
    when EUR or USD, else EUR) — what marts/compliance applies (macros/compliance.sql)."""
    with wh.connect() as conn:
        if tenant_id:
            _known_tenant(conn, tenant_id)
        rows = conn.execute(
            """select t.tenant_id, coalesce(c.currency, case when t.base_currency in ('EUR', 'USD')
                                                         then t.base_currency else 'EUR' end),
                      coalesce(c.large_amount, %s), coalesce(c.unhosted_amount, %s), c.set_at, c.recorded_by
                 from ops.tenants t
                 left join lateral (select * from ops.compliance_thresholds x where x.tenant_id = t.tenant_id
                                     order by x.set_at desc limit 1) c on true
                where t.tenant_id <> %s and (%s::text is null or t.tenant_id = %s)
                order by t.tenant_id""",
            (Decimal(DEFAULT_LARGE_TRANSFER), Decimal(DEFAULT_UNHOSTED_TRANSFER), PUBLIC_TENANT, tenant_id,
             tenant_id)).fetchall()
    return [Thresholds(*row) for row in rows]


def set_thresholds(wh: Warehouse, tenant_id: str, currency: str | None = None, large: Decimal | None = None,
                   unhosted: Decimal | None = None, *, by: Warehouse | None = None) -> Thresholds:
    """A new thresholds row for the tenant: what is not given stays as it is now. ValueError / LookupError.
    `by`: the warehouse as the person making the change (users.acting_as), whose login the row and its audit link
    carry; without it, the pipeline's."""
    (now,) = thresholds(wh, tenant_id)
    currency = (currency or now.currency).upper()
    large, unhosted = large if large is not None else now.large, unhosted if unhosted is not None else now.unhosted
    rules.check_thresholds(currency, large, unhosted)
    store.record_thresholds(by or wh, tenant_id, currency, large, unhosted)
    return thresholds(wh, tenant_id)[0]


def add_subject(wh: Warehouse, tenant_id: str, subject_id: str, kind: str, name: str,
                ownership_pct: Decimal | None = None, country: str | None = None, note: str | None = None, *,
                by: Warehouse | None = None) -> None:
    """Record a client or beneficial owner (again, to correct it), written as `by` (see set_thresholds).
    ValueError / LookupError."""
    country = country.upper() if country else None
    rules.check_subject(kind, ownership_pct, country)
    with wh.connect() as conn:
        _known_tenant(conn, tenant_id)
    store.record_subject(by or wh, tenant_id, subject_id, kind, name, ownership_pct, country, note)


def review(wh: Warehouse, tenant_id: str, subject_id: str, status: str, verified_at: date | None,
           risk: str | None, next_review: date | None, documents: Sequence[str], note: str | None = None, *,
           by: Warehouse | None = None) -> int:
    """Record a review of a subject (it supersedes the earlier ones), written as `by` (see set_thresholds).
    Returns its review_id."""
    rules.check_review(status, verified_at, risk, next_review)
    with wh.connect() as conn:
        _known_tenant(conn, tenant_id)
        if conn.execute("select 1 from ops.kyc_subjects where tenant_id = %s and subject_id = %s",
                        (tenant_id, subject_id)).fetchone() is None:
            raise LookupError(f"no subject {subject_id!r} of {tenant_id} in the register "
                              "(add it first: `coinbook compliance kyc add-subject`)")
    return store.record_review(by or wh, tenant_id, subject_id, status, verified_at, risk, next_review, documents, note)


def seed_register(wh: Warehouse, register: dict[str, list[dict[str, Any]]], today: date) -> list[str]:
    """A KYC register for each tenant of `register` ({tenant: [subject with its review]}, review dates as
    verified_days_ago / next_review_in_days from `today`) that has no subject yet — a tenant whose register someone
    has started is left alone. Checked as the CLI checks it; written as `wh`'s login. Returns the tenants seeded."""
    seeded = []
    with wh.connect() as conn:
        started = {row[0] for row in conn.execute("select distinct tenant_id from ops.kyc_subjects")}
        known = {row[0] for row in conn.execute("select tenant_id from ops.tenants")}
    for tenant_id, entries in sorted(register.items()):
        if tenant_id in started or tenant_id not in known:
            continue
        for entry in entries:
            ownership = Decimal(str(entry["ownership"])) if entry.get("ownership") is not None else None
            add_subject(wh, tenant_id, entry["subject_id"], entry["kind"], entry["name"], ownership,
                        entry.get("country"), entry.get("note"))
            r = entry["review"]
            verified = today - timedelta(days=int(r["verified_days_ago"])) if "verified_days_ago" in r else None
            due = today + timedelta(days=int(r["next_review_in_days"])) if "next_review_in_days" in r else None
            review(wh, tenant_id, entry["subject_id"], r["status"], verified, r.get("risk"), due,
                   r.get("documents", []), r.get("note"))
        seeded.append(tenant_id)
    return seeded


SUBJECTS_SQL = """
select s.tenant_id, s.subject_id, s.kind, s.name, s.ownership_pct, s.country, r.status, r.verified_at,
       r.risk_rating, r.next_review_due, coalesce(r.documents, '{}'), r.recorded_by, r.recorded_at,
       coalesce(r.status = 'verified' and r.next_review_due < cast(now() at time zone 'UTC' as date), false)
  from (select distinct on (tenant_id, subject_id) * from ops.kyc_subjects
         order by tenant_id, subject_id, recorded_at desc) s
  left join lateral (select * from ops.kyc_reviews x where x.tenant_id = s.tenant_id and x.subject_id = s.subject_id
                      order by x.recorded_at desc, x.review_id desc limit 1) r on true
 where %(tenant)s::text is null or s.tenant_id = %(tenant)s
 order by s.tenant_id, s.kind desc, s.subject_id"""


def subjects(wh: Warehouse, tenant_id: str | None = None) -> list[SubjectRow]:
    """The register as it is now: each subject's latest details and latest review."""
    with wh.connect() as conn:
        return [SubjectRow(*row) for row in conn.execute(SUBJECTS_SQL, {"tenant": tenant_id}).fetchall()]


def history(wh: Warehouse, tenant_id: str, subject_id: str) -> list[tuple[Any, ...]]:
    """Every review of a subject, oldest first (recorded_at, status, verified_at, risk, due, documents, by)."""
    with wh.connect() as conn:
        return conn.execute(
            """select recorded_at, status, verified_at, risk_rating, next_review_due, documents, recorded_by, note
                 from ops.kyc_reviews where tenant_id = %s and subject_id = %s order by recorded_at, review_id""",
            (tenant_id, subject_id)).fetchall()


def kyc_statuses(wh: Warehouse, tenant_id: str | None = None) -> list[KycStatus]:
    """marts.kyc_status (a view: judged now). LookupError when the marts are not built yet."""
    with wh.connect() as conn:
        if conn.execute("select to_regclass('marts.kyc_status') is null").fetchone()[0]:
            raise LookupError("marts.kyc_status is not built yet: run `coinbook run` first")
        rows = conn.execute(
            """select tenant_id, kyc_valid, status, verified_at, risk_rating, next_review_due, review_overdue,
                      reason, reason_detail from marts.kyc_status
                where %(tenant)s::text is null or tenant_id = %(tenant)s order by tenant_id""",
            {"tenant": tenant_id}).fetchall()
    return [KycStatus(*row) for row in rows]


def kyc_flag(wh: Warehouse, tenant_id: str) -> str | None:
    """The line a report prints (on its first page and in the CLI) when the tenant has no valid KYC record; None
    when it has one. Every report calls this."""
    try:
        found = kyc_statuses(wh, tenant_id)
    except LookupError:
        return f"KYC: status of {tenant_id} unknown (marts.kyc_status not built: run `coinbook run`)"
    return rules.kyc_flag(found[0] if found else None, tenant_id)


def raise_kyc_alerts(wh: Warehouse, now: datetime) -> list[KycStatus]:
    """The nightly check: an alert per tenant whose KYC is not valid (a review overdue, none recorded, rejected,
    expired, pending), and a warning per valid one whose next review is near (kyc_review_due); resolved once valid
    again, or reviewed. Returns the tenants' statuses."""
    statuses = kyc_statuses(wh)
    sync_alerts(wh, KYC_ALERT_KINDS, rules.kyc_alerts(statuses) + rules.kyc_due_alerts(statuses, now.date()), now)
    return statuses
