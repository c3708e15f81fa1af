"""Compliance rules (issue 16 §2): when a transfer is over a threshold, what a KYC review must say, which tenants
raise a KYC alert, and the flag every report prints. Pure: the services read the register and the marts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pipelines.domain.alerts import Alert

CURRENCIES = ("EUR", "USD")
SUBJECT_KINDS = ("client", "beneficial_owner")
REVIEW_STATUSES = ("verified", "pending", "rejected", "expired")
RISK_RATINGS = ("low", "medium", "high")
KYC_OVERDUE_KIND = "kyc_review_overdue"
KYC_INVALID_KIND = "kyc_invalid"
KYC_DUE_KIND = "kyc_review_due"
KYC_DUE_WITHIN_DAYS = 30  # a valid record whose next review (e.g. an ID document's expiry) is this close: a warning


def exceeds(value: Decimal | None, threshold: Decimal) -> bool:
    """Over the threshold: strictly more, as the Transfer of Funds Regulation says ("exceeding EUR 1 000"), so a
    transfer of exactly 1,000.00 is not one. An unvalued transfer (None) counts: it is listed for a person to
    value rather than dropped."""
    return value is None or value > threshold


def check_thresholds(currency: str, large: Decimal, unhosted: Decimal) -> None:
    """ValueError when the thresholds cannot be recorded (ops.compliance_thresholds checks the same)."""
    if currency not in CURRENCIES:
        raise ValueError(f"currency must be one of {', '.join(CURRENCIES)}, not {currency!r}")
    if large <= 0 or unhosted <= 0:
        raise ValueError("thresholds must be positive")


def check_subject(kind: str, ownership_pct: Decimal | None, country: str | None) -> None:
    """ValueError when a subject cannot be recorded: an ownership share belongs to a beneficial owner only, a
    country is ISO 3166-1 alpha-2."""
    if kind not in SUBJECT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SUBJECT_KINDS)}, not {kind!r}")
    if ownership_pct is not None and kind != "beneficial_owner":
        raise ValueError("an ownership share is recorded for a beneficial owner only")
    if ownership_pct is not None and not Decimal(0) < ownership_pct <= Decimal(100):
        raise ValueError("ownership must be more than 0 and at most 100 (percent)")
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()
                                    and country.isupper()):
        raise ValueError(f"country must be an ISO 3166-1 alpha-2 code such as DE, not {country!r}")


def check_review(status: str, verified_at: date | None, risk: str | None, next_review: date | None) -> None:
    """ValueError when a review is incomplete: a verification needs its date, a risk rating and a next review
    after it (what makes "overdue" decidable)."""
    if status not in REVIEW_STATUSES:
        raise ValueError(f"status must be one of {', '.join(REVIEW_STATUSES)}, not {status!r}")
    if risk is not None and risk not in RISK_RATINGS:
        raise ValueError(f"risk must be one of {', '.join(RISK_RATINGS)}, not {risk!r}")
    if status == "verified":
        missing = [name for name, value in (("--verified-at", verified_at), ("--risk", risk),
                                            ("--next-review", next_review)) if value is None]
        if missing:
            raise ValueError(f"a verified review needs {', '.join(missing)}")
        assert verified_at is not None and next_review is not None
        if next_review <= verified_at:
            raise ValueError("the next review must come after the verification")


@dataclass(frozen=True)
class KycStatus:
    """One row of marts.kyc_status."""

    tenant_id: str
    kyc_valid: bool
    status: str
    verified_at: date | None
    risk_rating: str | None
    next_review_due: date | None
    review_overdue: bool
    reason: str | None
    reason_detail: str | None


def kyc_flag(status: KycStatus | None, tenant_id: str) -> str | None:
    """The line every report prints for a tenant without a valid KYC record (None: nothing to flag)."""
    if status is None:
        return f"KYC: no valid KYC record for {tenant_id} (none recorded)"
    if status.kyc_valid:
        return None
    detail = f": {status.reason_detail}" if status.reason_detail else ""
    due = f", review was due {status.next_review_due:%Y-%m-%d}" if status.review_overdue and status.next_review_due \
        else ""
    return f"KYC: no valid KYC record for {tenant_id} ({status.reason}{due}){detail}"


def kyc_alerts(statuses: list[KycStatus]) -> list[Alert]:
    """One alert per tenant whose KYC is not valid: kyc_review_overdue (warning) when a review is past due, else
    kyc_invalid — critical when nothing valid was ever recorded, a review was rejected or has expired; a warning
    while one is pending."""
    alerts = []
    for s in statuses:
        if s.kyc_valid:
            continue
        message = kyc_flag(s, s.tenant_id) or ""
        details = {"reason": s.reason, "detail": s.reason_detail,
                   "next_review_due": s.next_review_due.isoformat() if s.next_review_due else None}
        if s.review_overdue:
            alerts.append(Alert(s.tenant_id, KYC_OVERDUE_KIND, "warning", "kyc", message, details))
        else:
            severity = "warning" if s.reason == "pending" else "critical"
            alerts.append(Alert(s.tenant_id, KYC_INVALID_KIND, severity, "kyc", message, details))
    return alerts


def kyc_due_alerts(statuses: list[KycStatus], today: date, within_days: int = KYC_DUE_WITHIN_DAYS) -> list[Alert]:
    """A warning per tenant whose KYC is valid but whose next review falls within `within_days` of `today` (the
    earliest of its subjects': often an identity document about to expire), so it is renewed before the record
    lapses into kyc_review_overdue."""
    alerts = []
    for s in statuses:
        if not s.kyc_valid or s.next_review_due is None or s.next_review_due > today + timedelta(days=within_days):
            continue
        days = (s.next_review_due - today).days
        message = (f"KYC: the next review of {s.tenant_id} is due {s.next_review_due:%Y-%m-%d} "
                   f"(in {days} day{'s' if days != 1 else ''}): renew it before the record lapses")
        alerts.append(Alert(s.tenant_id, KYC_DUE_KIND, "warning", "kyc", message,
                            {"next_review_due": s.next_review_due.isoformat(), "days_left": days}))
    return alerts
