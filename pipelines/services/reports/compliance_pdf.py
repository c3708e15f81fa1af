"""The compliance pack's PDF: pure layout of a `PackData` (no database, no clock).

Pages: a cover (tenant, quarter and its bounds in the tenant's zone, generated at/by, Coinbook version, the KYC
flag, contents), a summary of key figures, one section per topic (a table whose header repeats on every page it
runs onto, then its totals), and last the audit chain's verification, the quarter-end checkpoint, the manifest of
the CSVs with its sha256, and the sign-off block. Every page: "Page x of y". The PDF shows a chosen set of
columns per section; the CSV beside it has them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.services.reports.compliance import MISSING, PackData, Section
from pipelines.services.reports.pdf_layout import MARGIN, PAGE_H, PAGE_W, USABLE_W, Align, ReportPdf, money, pdf_text

# The page: pdf_layout (landscape US Letter in points).
BODY_TOP = 64.0
BODY_BOTTOM = PAGE_H - 48.0
ROW_H = 12.0
HEAD_H = 14.0


def quantity(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), ",f")
    return text


def plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return pdf_text(str(value))


# (heading, width, alignment, cell from the row as a dict, formatter); the widths of a section add up to <= 720 pt.
Cell = tuple[str, float, Align, Callable[[dict[str, Any], ZoneInfo], str]]


_shown: dict[int, str] = {}  # id of a cell function made by _col -> the CSV column it shows (for the totals row)


def _col(name: str, fmt: Callable[[Any], str] = plain) -> Callable[[dict[str, Any], ZoneInfo], str]:
    def cell(row: dict[str, Any], _zone: ZoneInfo) -> str:
        return fmt(row[name])
    _shown[id(cell)] = name
    return cell


def _time(name: str) -> Callable[[dict[str, Any], ZoneInfo], str]:
    def cell(row: dict[str, Any], zone: ZoneInfo) -> str:
        value = row[name]
        if isinstance(value, datetime):
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        return value.isoformat() if isinstance(value, date) else plain(value)
    return cell


def _price_origin(row: dict[str, Any], _zone: ZoneInfo) -> str:
    if row["price_source"] == "usd_peg":
        return "USD stablecoin at 1"
    if row["price_source"] == "unpriced":
        return "UNPRICED"
    origin = f"{row['price_venue']} {row['price_symbol']}"
    if row["priced_as"]:
        origin += f" (as {row['priced_as']})"
    return pdf_text(origin + (" *fallback" if row["price_fallback"] else ""))


LAYOUTS: dict[str, tuple[Cell, ...]] = {
    "holdings": (
        ("Account", 120, "L", _col("account_id")), ("Kind", 50, "L", _col("account_kind")),
        ("Asset", 50, "L", _col("asset")), ("Quantity", 105, "R", _col("quantity", quantity)),
        ("Price USD", 80, "R", _col("price_usd", quantity)), ("Value USD", 90, "R", _col("value_usd", money)),
        ("Price from (venue, market)", 135, "L", _price_origin), ("Price time", 90, "C", _time("priced_at")),
    ),
    "flows": (
        ("Account", 140, "L", _col("account_id")), ("Flow", 70, "L", _col("flow")), ("Asset", 55, "L", _col("asset")),
        ("Movements", 60, "R", _col("movements")), ("Quantity", 115, "R", _col("quantity", quantity)),
        ("Value USD", 95, "R", _col("value_usd", money)), ("Unvalued", 50, "R", _col("unvalued")),
        ("First", 67, "C", _time("first_at")), ("Last", 67, "C", _time("last_at")),
    ),
    "realized_gains": (
        ("Method", 70, "L", _col("method")), ("Term", 60, "L", _col("term")),
        ("Disposals", 60, "R", _col("disposals")), ("Slices", 55, "R", _col("slices")),
        ("Proceeds USD", 100, "R", _col("proceeds", money)), ("Cost USD", 100, "R", _col("cost", money)),
        ("Gain USD", 100, "R", _col("gain", money)), ("Unknown gain", 80, "R", _col("slices_gain_unknown")),
        ("Their proceeds USD", 95, "R", _col("proceeds_gain_unknown", money)),
    ),
    "income": (
        ("Kind", 110, "L", _col("kind")), ("Source", 130, "L", _col("source")), ("Asset", 70, "L", _col("asset")),
        ("Receipts", 70, "R", _col("receipts")), ("Quantity", 130, "R", _col("quantity", quantity)),
        ("Value USD", 120, "R", _col("value_usd", money)), ("Unvalued", 70, "R", _col("unvalued")),
    ),
    "large_transfers": (
        ("Time", 75, "C", _time("occurred_at")), ("Account", 100, "L", _col("account_id")),
        ("Dir.", 40, "L", _col("direction")), ("Asset", 40, "L", _col("asset")),
        ("Amount", 85, "R", _col("amount", quantity)), ("Value", 80, "R", _col("value", money)),
        ("Cur.", 30, "L", _col("value_currency")), ("Threshold", 60, "R", _col("threshold", money)),
        ("Counterparty", 160, "L", _col("counterparty_address")), ("Kind", 50, "L", _col("counterparty_kind")),
    ),
    "screening": (
        ("Time", 70, "C", _time("occurred_at")), ("Account", 85, "L", _col("account_id")),
        ("Asset", 35, "L", _col("asset")), ("Amount", 55, "R", _col("amount", quantity)),
        ("Address", 95, "L", _col("address")), ("List (version)", 75, "L",
                                                 lambda r, _z: plain(f"{r['list_name']} {r['list_version'] or ''}")),
        ("Entry", 75, "L", _col("entry_name")), ("Decision", 60, "L", _col("decision")),
        ("Decided by", 45, "L", _col("decided_by")), ("Reason", 125, "L", _col("reason")),
    ),
    "reconciliation_breaks": (
        ("Status", 95, "L", _col("status")), ("Account", 105, "L", _col("account_id")),
        ("Asset", 40, "L", _col("asset")), ("Reported", 80, "R", _col("reported_quantity", quantity)),
        ("Computed", 80, "R", _col("computed_quantity", quantity)),
        ("Difference", 75, "R", _col("difference", quantity)), ("First seen", 70, "C", _time("first_seen_at")),
        ("Last seen", 70, "C", _time("last_seen_at")), ("Builds", 35, "R", _col("builds_seen")),
        ("Resolved by", 70, "C", _time("resolved_by_build")),
    ),
    "data_quality": (
        ("Source", 70, "L", _col("source")), ("Raw table", 105, "L", _col("raw_table")),
        ("Check", 170, "L", _col("check_name")), ("Records", 45, "R", _col("records")),
        ("Failed", 40, "R", _col("failed_checks")), ("In qtr", 40, "R", _col("quarantined_in_quarter")),
        ("Newest reason", 250, "L", _col("example_reason")),
    ),
}
LAYOUTS["unhosted_transfers"] = LAYOUTS["large_transfers"]


class PackPdf(ReportPdf):
    def __init__(self, data: PackData) -> None:
        super().__init__()
        self.data = data
        self.zone = ZoneInfo(data.zone)
        self.set_draw_color(150)
        self.set_line_width(0.4)
        self.running_title = ""  # the section a page belongs to, for its header

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_xy(MARGIN, 22)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90)
        data = self.data
        known = f" - as known at {data.known_at.astimezone(self.zone):%Y-%m-%d %H:%M}" if data.known_at else ""
        self.cell(USABLE_W / 2, 10, self.fit(pdf_text(f"Compliance pack {data.quarter} - {data.tenant_name} "
                                                       f"({data.tenant_id}){known}"), USABLE_W / 2))
        self.cell(USABLE_W / 2, 10, pdf_text(self.running_title), align="R")
        self.line(MARGIN, 34, PAGE_W - MARGIN, 34)
        self.set_text_color(0)

    def footer(self) -> None:
        self.set_draw_color(150)
        self.line(MARGIN, PAGE_H - 38, PAGE_W - MARGIN, PAGE_H - 38)
        self.set_xy(MARGIN, PAGE_H - 34)
        self.set_font("Helvetica", "I", 7)
        self.set_text_color(90)
        data = self.data
        self.cell(USABLE_W - 100, 9, pdf_text(
            f"Coinbook {data.version} - generated {data.generated_at.astimezone(self.zone):%Y-%m-%d %H:%M %Z} - "
            f"quarter bounds and times in {data.zone} - CSVs: {data.manifest_file} sha256 "
            f"{data.manifest_sha256[:16]}..."))
        self.set_font("Helvetica", "", 8)
        self.cell(100, 9, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)

    # ---- blocks

    def heading(self, text: str, size: float = 15) -> None:
        self.set_x(MARGIN)
        self.set_font("Helvetica", "B", size)
        self.cell(USABLE_W, size + 5, pdf_text(text), new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str, size: float = 8.5, style: str = "", color: int | tuple[int, int, int] = 0) -> None:
        self.set_x(MARGIN)
        self.set_font("Helvetica", style, size)
        self.set_text_color(*(color if isinstance(color, tuple) else (color,)))
        self.multi_cell(USABLE_W, size + 2.5, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)

    def pairs(self, rows: Sequence[tuple[str, str]], label_w: float = 170, size: float = 9.5) -> None:
        """Label: value lines (a key-figures table); a long value wraps."""
        line_h = ROW_H + 2
        for label, value in rows:
            text = pdf_text(value)
            self.set_font("Helvetica", "", size)
            lines = self.multi_cell(USABLE_W - label_w, line_h, text, dry_run=True, output="LINES")
            self.ensure(line_h * len(lines) + 2)
            y = self.get_y()
            self.set_x(MARGIN)
            self.set_font("Helvetica", "B", size)
            self.cell(label_w, line_h, pdf_text(label))
            self.set_font("Helvetica", "", size)
            self.multi_cell(USABLE_W - label_w, line_h, text, new_x="LMARGIN", new_y="NEXT")
            self.set_y(y + line_h * len(lines) + 2)
            self.line(MARGIN, self.get_y() - 1, PAGE_W - MARGIN, self.get_y() - 1)

    def ensure(self, height: float) -> bool:
        """A new page when `height` does not fit below the current position; True when one was added."""
        if self.get_y() + height <= BODY_BOTTOM:
            return False
        self.add_page()
        self.set_xy(MARGIN, BODY_TOP - 20)
        return True

    def table_header(self, cells: Sequence[Cell]) -> None:
        self.set_x(MARGIN)
        self.set_font("Helvetica", "B", 7.5)
        self.set_fill_color(225)
        for heading, width, align, _ in cells:
            self.cell(width, HEAD_H, self.fit(heading, width), border=1, align=align, fill=True)
        self.ln(HEAD_H)

    def table_row(self, cells: Sequence[Cell], texts: Sequence[str], bold: bool = False) -> None:
        self.set_x(MARGIN)
        self.set_fill_color(240)
        for (_, width, align, _), text in zip(cells, texts, strict=True):
            # a number is never cut: its font shrinks instead
            self.fitted_cell(width, ROW_H, text, align, size=7.5, min_size=4.5, cut=align != "R", bold=bold,
                             fill=bold)
        self.ln(ROW_H)

    def table(self, title: str, cells: Sequence[Cell], rows: Sequence[Sequence[str]],
              totals: Sequence[str] | None) -> None:
        """Rows under a header repeated on every page the table runs onto, then the totals row."""
        self.ensure(HEAD_H + ROW_H)
        self.table_header(cells)
        for texts in rows:
            if self.ensure(ROW_H):
                self.paragraph(f"{title} (continued)", size=9, style="B")
                self.table_header(cells)
            self.table_row(cells, texts)
        if totals is not None:
            if self.ensure(ROW_H):
                self.paragraph(f"{title} (continued)", size=9, style="B")
                self.table_header(cells)
            self.table_row(cells, totals, bold=True)


def _when(data: PackData, moment: datetime) -> str:
    local = moment.astimezone(ZoneInfo(data.zone))
    text = f"{local:%Y-%m-%d %H:%M %Z}"
    return text if not local.utcoffset() else f"{text} ({moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def bounds_text(data: PackData) -> str:
    """The quarter's window as printed on the cover."""
    text = f"{data.quarter}: from {data.start:%Y-%m-%d %H:%M} to {data.end:%Y-%m-%d %H:%M} (end excluded), {data.zone}"
    if data.start.utcoffset() or data.end.utcoffset():
        text += (f" (UTC {data.start.astimezone(UTC):%Y-%m-%d %H:%M} to {data.end.astimezone(UTC):%Y-%m-%d %H:%M})")
    return text


def key_figures(data: PackData) -> list[tuple[str, str]]:
    """The summary page's lines: each figure, from the CSV of its section."""
    figures: list[tuple[str, str]] = []

    def available(key: str) -> Section | None:
        section = data.section(key)
        return section if section.available else None

    holdings = available("holdings")
    if holdings:
        unpriced = sum(1 for r in holdings.rows if r[holdings.spec.columns.index("price_source")] == "unpriced")
        figures.append(("Holdings at quarter end",
                        f"{len(holdings.rows)} positions, value USD {money(holdings.total('value_usd'))}"
                        f"{f' ({unpriced} unpriced, not in the value)' if unpriced else ''}"))
    flows = available("flows")
    if flows:
        col = flows.spec.columns.index("flow")
        for flow in ("deposit", "withdrawal", "internal_in", "internal_out"):
            rows = [r for r in flows.rows if r[col] == flow]
            value = sum((Decimal(r[flows.spec.columns.index("value_usd")] or 0) for r in rows), Decimal(0))
            moves = sum(int(r[flows.spec.columns.index("movements")]) for r in rows)
            figures.append((f"Flows: {flow.replace('_', ' ')}", f"{moves} movements, value USD {money(value)}"))
    gains = available("realized_gains")
    if gains:
        term = gains.spec.columns.index("term")
        gain = gains.spec.columns.index("gain")
        for label in ("short", "long"):
            total = sum((Decimal(r[gain]) for r in gains.rows if r[term] == label), Decimal(0))
            figures.append((f"Realized gain, {label} term", f"USD {money(total)}"))
        unknown = int(gains.total("slices_gain_unknown"))
        if unknown:
            figures.append(("Realized, gain unknown", f"{unknown} slices, proceeds USD "
                                                      f"{money(gains.total('proceeds_gain_unknown'))} (not in gains)"))
    income = available("income")
    if income:
        figures.append(("Income", f"{int(income.total('receipts'))} receipts, value USD "
                                  f"{money(income.total('value_usd'))}"))
    for key, label in (("large_transfers", "Large transfers"), ("unhosted_transfers", "Unhosted-wallet transfers")):
        section = data.section(key)
        figures.append((label, f"{len(section.rows)}, value {money(section.total('value'))}" if section.available
                        else "not available (migration/mart missing)"))
    screening = data.section("screening")
    if screening.available:
        col = screening.spec.columns.index("decision")
        counts = {d: sum(1 for r in screening.rows if r[col] == d) for d in ("open", "true_match", "false_positive")}
        figures.append(("Screening hits", f"{len(screening.rows)}: {counts['open']} open, {counts['true_match']} "
                                          f"true match, {counts['false_positive']} false positive"))
    else:
        figures.append(("Screening hits", "not available (migration/mart missing)"))
    recon = data.section("reconciliation_breaks")
    if recon.available:
        col = recon.spec.columns.index("status")
        opened = sum(1 for r in recon.rows if r[col] == "open_at_quarter_end")
        figures.append(("Reconciliation breaks", f"{opened} open at quarter end, {len(recon.rows) - opened} resolved "
                                                 "in the quarter"))
    quality = data.section("data_quality")
    if quality.available:
        figures.append(("Quarantined records", f"{int(quality.total('records'))} records "
                                               f"({int(quality.total('quarantined_in_quarter'))} rows quarantined "
                                               f"during the quarter) over {len(quality.rows)} source/check pairs"))
    audit = data.audit
    figures.append(("Audit chain", ("VERIFIED" if audit.intact else "BROKEN") +
                    f": {audit.links_checked} links checked, head at #{audit.head_seq}"))
    figures.append(("Quarter-end checkpoint", f"{audit.checkpoint.day} #{audit.checkpoint.seq} "
                                              f"{audit.checkpoint.hash_hex[:16]}..." if audit.checkpoint
                    else f"none on or before {audit.checkpoint_day_limit}"))
    figures.append(("KYC", data.kyc.flag or f"valid ({data.kyc.status}, risk {data.kyc.risk_rating})"))
    return figures


def _cover(pdf: PackPdf, contents: Sequence[tuple[str, int]]) -> None:
    data = pdf.data
    pdf.add_page()
    pdf.set_xy(MARGIN, 50)
    pdf.set_font("Helvetica", "", 10)
    pdf.set_text_color(90)
    pdf.cell(USABLE_W, 14, "COINBOOK - QUARTERLY COMPLIANCE PACK", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.heading(f"{data.tenant_name} ({data.tenant_id})", 22)
    pdf.heading(f"Quarter {data.quarter}", 16)
    pdf.ln(4)
    pdf.pairs([
        ("Quarter (tenant's tax time zone)", bounds_text(data)),
        *((("As of", f"{_when(data, data.as_of)}: the quarter up to this instant only"),) if data.as_of else ()),
        *((("As known at", f"{_when(data, data.known_at)}: the records ingested and the KYC entries, screening "
                           "decisions and thresholds recorded by then; nothing learnt later"),)
          if data.known_at else ()),
        ("Time zone", f"{data.zone}: the quarter's bounds and every time in this pack and its CSVs"),
        ("Generated at", _when(data, data.generated_at)),
        ("Generated by", data.generated_by),
        ("Coinbook version", data.version),
        ("KYC", data.kyc.flag or f"valid: status {data.kyc.status}, verified "
                                 f"{_time('verified_at')({'verified_at': data.kyc.verified_at}, pdf.zone)}, risk "
                                 f"{data.kyc.risk_rating}, next review {data.kyc.next_review_due}"),
    ])
    if data.kyc.flag:
        pdf.ln(8)
        y = pdf.get_y()
        pdf.set_draw_color(180, 0, 0)
        pdf.set_fill_color(253, 232, 232)
        pdf.set_line_width(1.5)
        pdf.rect(MARGIN, y, USABLE_W, 30, style="DF")
        pdf.set_line_width(0.4)
        pdf.set_xy(MARGIN + 8, y + 7)
        pdf.set_font("Helvetica", "B", 12)
        pdf.set_text_color(170, 0, 0)
        pdf.cell(USABLE_W - 16, 16, pdf.fit(pdf_text(data.kyc.flag), USABLE_W - 16))
        pdf.set_text_color(0)
        pdf.set_draw_color(150)
        pdf.set_xy(MARGIN, y + 36)
    pdf.ln(10)
    pdf.paragraph("Contents", size=11, style="B")
    for label, page in contents:
        pdf.set_x(MARGIN + 10)
        pdf.set_font("Helvetica", "", 9.5)
        pdf.cell(400, 13, pdf_text(label))
        pdf.cell(60, 13, f"page {page}" if page else "", align="R", new_x="LMARGIN", new_y="NEXT")


def _section(pdf: PackPdf, number: int, section: Section) -> int:
    """The section from a new page; returns that page's number."""
    spec = section.spec
    pdf.running_title = f"{number}. {spec.title}"
    pdf.add_page()
    first_page = pdf.page_no()
    pdf.set_xy(MARGIN, BODY_TOP - 20)
    pdf.heading(f"{number}. {spec.title}", 14)
    pdf.paragraph(spec.about, color=60)
    for note in section.notes:
        pdf.paragraph(note, style="B", color=(150, 0, 0) if not section.available else (120, 70, 0))
    pdf.ln(4)
    if not section.available:
        pdf.paragraph(f"This section is {MISSING}.", size=11, style="B", color=(150, 0, 0))
        return first_page
    cells = LAYOUTS[spec.key]
    names = spec.columns
    rows = [[cell(dict(zip(names, row, strict=True)), pdf.zone) for _, _, _, cell in cells] for row in section.rows]
    totals = _totals_row(section, cells) if spec.totals else None
    if not rows:
        pdf.paragraph("Nothing in this quarter.", size=10, style="I")
        return first_page
    pdf.table(f"{number}. {spec.title}", cells, rows, totals)
    pdf.paragraph(f"{len(rows)} row{'s' if len(rows) != 1 else ''}; every column in {spec.key}.csv.", size=7.5,
                  color=90)
    return first_page


COUNTS = ("records", "failed_checks", "quarantined_in_quarter", "receipts", "movements")


def _totals_row(section: Section, cells: Sequence[Cell]) -> list[str]:
    """"Total (n rows)" in the first cell, each summed column's total under it (money in cents, counts whole),
    the rest blank."""
    count = len(section.rows)
    texts = [f"Total ({count} row{'s' if count != 1 else ''})"] + [""] * (len(cells) - 1)
    for index, cell in enumerate(cells):
        column = _shown.get(id(cell[3]))
        if index and column in section.spec.totals:
            total = section.total(column)
            texts[index] = str(int(total)) if column in COUNTS else money(total)
    return texts


def _closing(pdf: PackPdf, number: int) -> int:
    data = pdf.data
    audit = data.audit
    pdf.add_page()
    first_page = pdf.page_no()
    pdf.set_xy(MARGIN, BODY_TOP - 20)
    pdf.heading(f"{number}. Audit chain, quarter-end checkpoint, manifest and sign-off", 14)
    pdf.pairs([
        ("Chain verification", ("OK - intact" if audit.intact else "BROKEN") +
         f": {audit.links_checked} links recomputed, head at link #{audit.head_seq} (at generation time)"),
        *((("First problem", line) for line in audit.lines[1:4]) if not audit.intact else ()),
        ("Quarter-end checkpoint", f"day {audit.checkpoint.day} (UTC), link #{audit.checkpoint.seq}, written "
                                   f"{audit.checkpoint.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
         if audit.checkpoint else f"none: no checkpoint on or before {audit.checkpoint_day_limit} (UTC day)"),
    ], label_w=150)
    if audit.checkpoint:
        pdf.set_x(MARGIN)
        pdf.set_font("Helvetica", "B", 9.5)
        pdf.cell(150, 16, "Checkpoint hash (sha256)", border="B")
        pdf.set_font("Courier", "", 9)
        pdf.cell(USABLE_W - 150, 16, audit.checkpoint.hash_hex, border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.paragraph("Manifest of the CSVs (each file's sha256; `sha256sum` recomputes them)", size=10, style="B")
    cells: tuple[Cell, ...] = (("Section", 140, "L", _col("section")), ("File", 150, "L", _col("file")),
                               ("Rows", 50, "R", _col("rows")), ("sha256", 380, "L", _col("sha256")))
    rows = [[e.section, e.file, str(e.rows), e.sha256] for e in data.manifest]
    pdf.table("Manifest", cells, rows, None)
    pdf.ensure(20)
    pdf.set_x(MARGIN)
    pdf.set_font("Helvetica", "B", 9.5)
    pdf.cell(150, 16, f"{data.manifest_file} sha256")
    pdf.set_font("Courier", "B", 9)
    pdf.cell(USABLE_W - 150, 16, data.manifest_sha256, new_x="LMARGIN", new_y="NEXT")
    _sign_off(pdf)
    return first_page


def _sign_off(pdf: PackPdf) -> None:
    if pdf.get_y() + 110 > BODY_BOTTOM:
        pdf.add_page()
        pdf.set_xy(MARGIN, BODY_TOP - 20)
    pdf.ln(10)
    pdf.paragraph("Sign-off", size=11, style="B")
    widths = (150, 230, 200, 140)
    pdf.set_x(MARGIN)
    pdf.set_font("Helvetica", "B", 8.5)
    pdf.set_fill_color(225)
    for heading, width in zip(("Role", "Name", "Signature", "Date"), widths, strict=True):
        pdf.cell(width, HEAD_H, heading, border=1, fill=True)
    pdf.ln(HEAD_H)
    for role in ("Prepared by", "Reviewed by"):
        pdf.set_x(MARGIN)
        pdf.set_font("Helvetica", "", 9.5)
        for text, width in zip((role, "", "", ""), widths, strict=True):
            pdf.cell(width, 30, text, border=1)
        pdf.ln(30)


def _render(data: PackData, starts: dict[str, int]) -> tuple[bytes, dict[str, int], int]:
    pdf = PackPdf(data)
    pdf.set_title(f"Compliance pack {data.quarter} - {data.tenant_id}")
    pdf.set_creator(f"Coinbook {data.version}")
    pdf.set_creation_date(data.generated_at)
    numbered = list(enumerate(data.sections, start=2))
    closing = len(data.sections) + 2
    contents = [("1. Summary: key figures", starts.get("summary", 0))]
    contents += [(f"{n}. {s.spec.title}" + ("" if s.available else " (not available)"), starts.get(s.key, 0))
                 for n, s in numbered]
    contents.append((f"{closing}. Audit chain, quarter-end checkpoint, manifest and sign-off",
                     starts.get("closing", 0)))
    _cover(pdf, contents)
    found: dict[str, int] = {}
    pdf.running_title = "1. Summary"
    pdf.add_page()
    found["summary"] = pdf.page_no()
    pdf.set_xy(MARGIN, BODY_TOP - 20)
    pdf.heading("1. Summary: key figures", 14)
    pdf.paragraph(f"Quarter {bounds_text(data)}. Amounts in USD, rounded to cents; each figure is a total of its "
                  "section's CSV.", color=60)
    pdf.ln(4)
    pdf.pairs(key_figures(data), label_w=190)
    for number, section in numbered:
        found[section.key] = _section(pdf, number, section)
    pdf.running_title = f"{closing}. Audit chain, manifest and sign-off"
    found["closing"] = _closing(pdf, closing)
    return bytes(pdf.output()), found, pdf.page_no()


def render_pack(data: PackData) -> tuple[bytes, int]:
    """The PDF's bytes and its page count. Rendered twice: the first pass finds the page each section starts on,
    for the contents of the cover."""
    _, pages, _ = _render(data, {})
    content, _, count = _render(data, pages)
    return content, count
