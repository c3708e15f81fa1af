"""Compliance rules (pipelines/domain/compliance.py): the threshold boundary, what a register entry must say, the
KYC alerts and the report flag."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pipelines.domain.compliance import (
    KYC_INVALID_KIND,
    KYC_OVERDUE_KIND,
    KycStatus,
    check_review,
    check_subject,
    check_thresholds,
    exceeds,
    kyc_alerts,
    kyc_flag,
)


def test_the_threshold_is_exceeded_only_above_it() -> None:
    """TFR art. 14(5) / 16(2): "exceeding EUR 1 000" — exactly 1,000.00 is not over, a cent more is."""
    assert not exceeds(Decimal("1000.00"), Decimal(1000))
    assert exceeds(Decimal("1000.01"), Decimal(1000))
    assert not exceeds(Decimal("10000"), Decimal(10000))
    assert exceeds(None, Decimal(10000))  # unvalued: listed, never dropped


def test_thresholds_need_a_known_currency_and_positive_amounts() -> None:
    check_thresholds("EUR", Decimal(10000), Decimal(1000))
    with pytest.raises(ValueError, match="currency"):
        check_thresholds("GBP", Decimal(10000), Decimal(1000))
    with pytest.raises(ValueError, match="positive"):
        check_thresholds("USD", Decimal(0), Decimal(1000))


def test_a_subject_share_belongs_to_an_owner_and_a_country_is_alpha_2() -> None:
    check_subject("beneficial_owner", Decimal(25), "DE")
    check_subject("client", None, None)
    with pytest.raises(ValueError, match="beneficial owner only"):
        check_subject("client", Decimal(25), "DE")
    with pytest.raises(ValueError, match="at most 100"):
        check_subject("beneficial_owner", Decimal(101), None)
    with pytest.raises(ValueError, match="alpha-2"):
        check_subject("client", None, "DEU")


def test_a_verified_review_needs_its_date_risk_and_a_later_next_review() -> None:
    check_review("verified", date(2026, 1, 10), "low", date(2027, 1, 10))
    check_review("pending", None, None, None)
    with pytest.raises(ValueError, match="--risk, --next-review"):
        check_review("verified", date(2026, 1, 10), None, None)
    with pytest.raises(ValueError, match="after the verification"):
        check_review("verified", date(2026, 1, 10), "high", date(2026, 1, 10))
    with pytest.raises(ValueError, match="status"):
        check_review("approved", None, None, None)


def status(tenant: str, valid: bool, reason: str | None, overdue: bool = False) -> KycStatus:
    return KycStatus(tenant, valid, "verified" if valid or overdue else (reason or "none"), None, None,
                     date(2026, 3, 1) if overdue else None, overdue, reason,
                     f"client {tenant}-c: {reason}" if reason else None)


def test_one_alert_per_tenant_without_valid_kyc() -> None:
    alerts = kyc_alerts([status("ok", True, None), status("late", False, "overdue", overdue=True),
                         status("none", False, "none recorded"), status("wait", False, "pending")])
    assert [(a.tenant_id, a.kind, a.severity) for a in alerts] == [
        ("late", KYC_OVERDUE_KIND, "warning"), ("none", KYC_INVALID_KIND, "critical"),
        ("wait", KYC_INVALID_KIND, "warning")]
    assert "review was due 2026-03-01" in alerts[0].message


def test_the_flag_names_the_tenant_and_why_and_is_absent_when_valid() -> None:
    assert kyc_flag(status("ok", True, None), "ok") is None
    assert kyc_flag(None, "acme") == "KYC: no valid KYC record for acme (none recorded)"
    flag = kyc_flag(status("late", False, "overdue", overdue=True), "late")
    assert flag is not None and flag.startswith("KYC: no valid KYC record for late (overdue, review was due")
