"""Writes of the compliance register (V024): transfer thresholds and the KYC register. Append-only: a new row
supersedes the previous one (the latest applies) and every statement enters the tenant's audit chain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from warehouse.connection import Warehouse


def record_thresholds(wh: Warehouse, tenant_id: str, currency: str, large: Decimal,
                      unhosted: Decimal) -> datetime:
    """The tenant's thresholds from now on. Returns when they were set."""
    with wh.connect() as conn:
        row = conn.execute(
            """insert into ops.compliance_thresholds (tenant_id, currency, large_amount, unhosted_amount)
               values (%s, %s, %s, %s) returning set_at""", (tenant_id, currency, large, unhosted)).fetchone()
    assert row is not None
    return row[0]


def record_subject(wh: Warehouse, tenant_id: str, subject_id: str, kind: str, name: str,
                   ownership_pct: Decimal | None, country: str | None, note: str | None) -> datetime:
    """A subject of the register, or a correction of one (a new row with the same subject_id)."""
    with wh.connect() as conn:
        row = conn.execute(
            """insert into ops.kyc_subjects (tenant_id, subject_id, kind, name, ownership_pct, country, note)
               values (%s, %s, %s, %s, %s, %s, %s) returning recorded_at""",
            (tenant_id, subject_id, kind, name, ownership_pct, country, note)).fetchone()
    assert row is not None
    return row[0]


def record_review(wh: Warehouse, tenant_id: str, subject_id: str, status: str, verified_at: date | None,
                  risk_rating: str | None, next_review_due: date | None, documents: Sequence[str],
                  note: str | None) -> int:
    """A review of a subject (it supersedes the subject's earlier ones). Returns its review_id."""
    with wh.connect() as conn:
        row = conn.execute(
            """insert into ops.kyc_reviews (tenant_id, subject_id, status, verified_at, risk_rating, next_review_due,
                                            documents, note)
               values (%s, %s, %s, %s, %s, %s, %s, %s) returning review_id""",
            (tenant_id, subject_id, status, verified_at, risk_rating, next_review_due, list(documents),
             note)).fetchone()
    assert row is not None
    return int(row[0])
