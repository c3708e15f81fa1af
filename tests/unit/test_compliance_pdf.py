"""The compliance pack's pure parts: the quarter's bounds in a zone, CSV cells, and the PDF's layout on a pack made
here (no database): a table longer than a page repeats its header, every page says "Page x of y", a missing mart
says so, the KYC flag is on the cover, the sign-off and the checkpoint hash are on the last page. The pack on the
demo world, tied to the marts: tests/integration/test_pipeline.py (compliance pack)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pipelines.services.reports.compliance import (
    MISSING,
    SECTIONS,
    AuditResult,
    Checkpoint,
    Kyc,
    ManifestEntry,
    PackData,
    Section,
    csv_value,
    last_utc_day,
    parse_quarter,
    quarter_window,
    section_csv,
)
from pipelines.services.reports.compliance_pdf import money, render_pack
from tests.unit.test_form8949 import pdf_page_count, pdf_text

NEW_YORK = ZoneInfo("America/New_York")


def test_quarter_bounds_are_midnights_in_the_zone() -> None:
    assert parse_quarter("2026Q1") == (2026, 1) and parse_quarter("2026-q4") == (2026, 4)
    for bad in ("2026Q5", "Q1 2026", "2026"):
        with pytest.raises(ValueError, match="YYYYQn"):
            parse_quarter(bad)
    start, end = quarter_window(2026, 1, NEW_YORK)
    # New York: EST (-5) on 1 January, EDT (-4) on 1 April
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (datetime(2026, 1, 1, 5, tzinfo=UTC),
                                                            datetime(2026, 4, 1, 4, tzinfo=UTC))
    assert quarter_window(2025, 4, UTC) == (datetime(2025, 10, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert last_utc_day(datetime(2026, 4, 1, tzinfo=UTC)) == date(2026, 3, 31)
    assert last_utc_day(end) == date(2026, 4, 1)  # 04:00 UTC on 1 April is still the New York quarter


def test_csv_cells_are_exact_zoned_and_safe() -> None:
    assert csv_value(Decimal("1.500000000000000000"), UTC) == "1.5"
    assert csv_value(Decimal("-0.000000010000"), UTC) == "-0.00000001"
    assert csv_value(Decimal("100"), UTC) == "100"
    assert csv_value(datetime(2026, 4, 1, 3, 30, tzinfo=UTC), NEW_YORK) == "2026-03-31T23:30:00-04:00"
    assert csv_value("=HYPERLINK(1)", UTC) == "'=HYPERLINK(1)" and csv_value("-5", UTC) == "-5"
    assert csv_value(None, UTC) == "" and csv_value(True, UTC) == "true"


def _pack(holdings: int, *, kyc: Kyc, checkpoint: Checkpoint | None) -> PackData:
    spec = {s.key: s for s in SECTIONS}
    now = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    start, end = quarter_window(2026, 1, NEW_YORK)
    rows = tuple((f"acct-{i:03d}", "exchange", "binance", "BTC", Decimal("0.5"), Decimal("60000.123"),
                  Decimal("30000.06"), "daily_close", "binance", "BTC/USDT", end, None, None, start)
                 for i in range(holdings))
    sections = []
    for s in SECTIONS:
        if s.key == "holdings":
            sections.append(Section(spec["holdings"], rows))
        elif s.key == "screening":
            sections.append(Section(s, (), available=False, notes=(f"marts.screening_hits is {MISSING}.",)))
        else:
            sections.append(Section(s, ()))
    manifest = tuple(ManifestEntry(s.key, f"{s.key}.csv", len(s.rows), "ab" * 32) for s in sections)
    audit = AuditResult(True, 42, 42, ("acme: intact",), checkpoint, date(2026, 4, 1))
    return PackData("acme", "Acme Capital", "2026Q1", start, end, "America/New_York", now, "auditor (db x)",
                    "0.1.0", kyc, tuple(sections), audit, manifest, "manifest.csv", "cd" * 32)


def test_the_pdf_repeats_headers_numbers_pages_and_ends_with_the_sign_off() -> None:
    checkpoint = Checkpoint(date(2026, 3, 31), 40, "0f" * 32, datetime(2026, 3, 31, 23, tzinfo=UTC))
    data = _pack(90, kyc=Kyc(valid=False, available=True, status="expired", reason="passport expired"),
                 checkpoint=checkpoint)
    content, pages = render_pack(data)
    assert pdf_page_count(content) == pages
    text = pdf_text(content).splitlines()
    # 90 holdings do not fit one page: the header is drawn again on each page the table runs onto
    assert text.count("Price from (venue, market)") >= 2
    assert text.count("2. Holdings at quarter end (continued)") == text.count("Price from (venue, market)") - 1
    assert [t for t in text if t.startswith("Page ")] == [f"Page {n} of {pages}" for n in range(1, pages + 1)]
    assert "No valid KYC record: passport expired" in text
    total = money(Decimal("30000.06") * 90)
    assert total == "2,700,005.40" and total in text
    assert f"This section is {MISSING}." in text  # screening
    last = text[max(i for i, t in enumerate(text) if t.startswith("Page ")) - 40:]
    assert "0f" * 32 in text and "cd" * 32 in last and "Prepared by" in last and "Reviewed by" in last
    # the contents on the cover give the page each section starts on
    starts = [int(m[1]) for t in text if (m := re.fullmatch(r"page (\d+)", t))]
    assert len(starts) == len(SECTIONS) + 2 and starts == sorted(starts) and starts[0] == 2


def test_a_valid_kyc_raises_no_flag_and_a_missing_checkpoint_is_said() -> None:
    data = _pack(1, kyc=Kyc(valid=True, available=True, status="verified", risk_rating="low"), checkpoint=None)
    text = pdf_text(render_pack(data)[0])
    assert "No valid KYC record" not in text
    assert "none: no checkpoint on or before 2026-04-01 (UTC day)" in text
    assert Kyc(valid=False, available=False).flag == f"No valid KYC record: marts.kyc_status is {MISSING}"
    assert Kyc(valid=False, available=True).flag == "No valid KYC record: no KYC row for this tenant"


def test_a_section_csv_has_its_header_and_rows() -> None:
    data = _pack(3, kyc=Kyc(valid=True, available=True), checkpoint=None)
    lines = section_csv(data.section("holdings"), NEW_YORK).decode().splitlines()
    assert lines[0].split(",") == list(data.section("holdings").spec.columns)
    assert len(lines) == 4 and lines[1].startswith("acct-000,exchange,binance,BTC,0.5,60000.123,30000.06,")
    assert section_csv(data.section("screening"), NEW_YORK).decode().count("\r\n") == 1
