"""The pure parts of issue 16's leftovers: the KYC review-due warning, and how the compliance pack's SQL is pointed
at its as-known-at-K stand-ins."""

from __future__ import annotations

from datetime import date

from pipelines.domain.compliance import KYC_DUE_KIND, KycStatus, kyc_due_alerts
from pipelines.services.reports.compliance import SECTIONS
from pipelines.services.reports.compliance_known import FILTERS, REDEFINED, rewrite, stand_in

TODAY = date(2026, 12, 5)


def status(tenant: str, valid: bool, due: date | None) -> KycStatus:
    return KycStatus(tenant, valid, "verified" if valid else "rejected", date(2026, 1, 5), "low", due, False,
                     None if valid else "rejected", None)


def test_a_valid_record_whose_review_is_near_warns_once() -> None:
    alerts = kyc_due_alerts([status("soon", True, date(2026, 12, 26)), status("edge", True, date(2027, 1, 4)),
                             status("later", True, date(2027, 1, 5)), status("invalid", False, date(2026, 12, 6)),
                             status("undated", True, None)], TODAY)
    assert [(a.tenant_id, a.kind, a.severity, a.details["days_left"]) for a in alerts] == [
        ("soon", KYC_DUE_KIND, "warning", 21), ("edge", KYC_DUE_KIND, "warning", 30)]
    assert alerts[0].message == ("KYC: the next review of soon is due 2026-12-26 (in 21 days): renew it before the "
                                 "record lapses")


def test_rewrite_swaps_whole_relation_names_only() -> None:
    swaps = {"marts.ledger": stand_in("marts.ledger"), "ops.kyc_reviews": stand_in("ops.kyc_reviews")}
    assert swaps["marts.ledger"] == "pg_temp.ledger"
    sql = ("select * from marts.ledger l join marts.ledger_extra x using (id) join staging.marts.ledger y "
           "on true, ops.kyc_reviews, ops.kyc_reviews_history")
    assert rewrite(sql, swaps) == ("select * from pg_temp.ledger l join marts.ledger_extra x using (id) join "
                                   "staging.marts.ledger y on true, pg_temp.kyc_reviews, ops.kyc_reviews_history")
    assert rewrite(sql, {}) == sql


def test_every_relation_a_section_reads_has_a_stand_in_or_is_reference_data() -> None:
    """A section reading a tenant relation with no as-known-at stand-in would show what is known now."""
    covered = set(FILTERS) | set(REDEFINED) | {"marts.ledger", "marts.disposals"}
    reference = {"marts.prices_daily", "staging.price_aliases", "staging.usd_pegged_assets", "ops.accounts",
                 "marts.reconciliation_breaks"}  # prices, static mappings, and the "open now" count of a note
    import re

    read = {name for spec in SECTIONS
            for name in re.findall(r"\b(?:marts|ops|staging)\.\w+", re.sub(r"--[^\n]*", "", spec.sql))}
    assert read - covered - reference == set()
