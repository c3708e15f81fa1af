"""IRS Form 8949 (Sales and Other Dispositions of Capital Assets) for crypto-asset disposals: a CSV and a PDF.

Pure writer: it takes lines already computed by the lot engine (dates, proceeds, cost, term) and lays them out; it
reads no database and no clock. The PDF is a computer-generated *substitute layout* of the form, not the official
IRS PDF; it says so on every page and is meant to be reviewed by a tax professional.

Layout followed (2025 revision of Form 8949):
    Part I   short-term: capital assets held one year or less    boxes A, B, C (Form 1099-B) and G, H, I (Form 1099-DA)
    Part II  long-term: capital assets held more than one year   boxes D, E, F (Form 1099-B) and J, K, L (Form 1099-DA)
    columns  (a) description of property, (b) date acquired, (c) date sold or disposed of, (d) proceeds,
             (e) cost or other basis, (f) code(s), (g) amount of adjustment, (h) gain or (loss) = (d) - (e) + (g)
A Form 8949 page has one box checked, so lines are grouped by (part, box): each group gets its own set of pages and
its own totals line. A line without a box defaults to I (short-term) or L (long-term): digital assets not reported
to the taxpayer on a Form 1099-DA, which is what self-computed crypto disposals usually are.

Money is Decimal throughout and is rounded to cents (ROUND_HALF_UP) only for output; see `_Row`.

Why one module of ~575 lines: one form's layout — its columns, boxes, page geometry, totals and the CSV that
mirrors it — read together against the IRS instructions; split, the page arithmetic would hide across files.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from fpdf import FPDF

__all__ = [
    "BOX_MEANINGS",
    "CSV_COLUMNS",
    "DEFAULT_BOX",
    "ROWS_PER_PAGE",
    "Form8949Line",
    "describe",
    "to_cents",
    "write_form_8949",
]

SHORT_TERM_BOXES = ("A", "B", "C", "G", "H", "I")
LONG_TERM_BOXES = ("D", "E", "F", "J", "K", "L")
DEFAULT_BOX: dict[str, str] = {"short": "I", "long": "L"}
BOX_MEANINGS: dict[str, str] = {
    "A": "Short-term transactions reported on Form(s) 1099-B showing basis was reported to the IRS",
    "B": "Short-term transactions reported on Form(s) 1099-B showing basis wasn't reported to the IRS",
    "C": "Short-term transactions not reported to you on Form 1099-B",
    "D": "Long-term transactions reported on Form(s) 1099-B showing basis was reported to the IRS",
    "E": "Long-term transactions reported on Form(s) 1099-B showing basis wasn't reported to the IRS",
    "F": "Long-term transactions not reported to you on Form 1099-B",
    "G": "Short-term transactions involving digital assets reported on Form(s) 1099-DA showing basis was reported "
    "to the IRS",
    "H": "Short-term transactions involving digital assets reported on Form(s) 1099-DA showing basis wasn't "
    "reported to the IRS",
    "I": "Short-term transactions involving digital assets not reported to you on Form 1099-DA",
    "J": "Long-term transactions involving digital assets reported on Form(s) 1099-DA showing basis was reported "
    "to the IRS",
    "K": "Long-term transactions involving digital assets reported on Form(s) 1099-DA showing basis wasn't "
    "reported to the IRS",
    "L": "Long-term transactions involving digital assets not reported to you on Form 1099-DA",
}
_PART_OF_TERM: dict[str, str] = {"short": "I", "long": "II"}
_PART_TITLE: dict[str, tuple[str, str]] = {
    "I": ("Part I — Short-Term", "Transactions involving capital assets you held 1 year or less"),
    "II": ("Part II — Long-Term", "Transactions involving capital assets you held more than 1 year"),
}

CSV_COLUMNS = (
    "part",
    "box",
    "description",
    "date_acquired",
    "date_sold",
    "proceeds",
    "cost",
    "adjustment_code",
    "adjustment",
    "gain",
    "term",
    "reference",
)

CENT = Decimal("0.01")
VARIOUS = "VARIOUS"


def to_cents(amount: Decimal) -> Decimal:
    """`amount` rounded to cents, half up (0.005 → 0.01, -0.005 → -0.01); never "-0.00"."""
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else Decimal("0.00")


def describe(quantity: Decimal, asset: str) -> str:
    """Column (a) text for `quantity` units of `asset`: "0.5 BTC" (no trailing zeros, no exponent)."""
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise ValueError(f"quantity must be a finite Decimal, not {quantity!r}")
    text = format(quantity.normalize(), "f")
    return f"{text} {asset}".strip()


@dataclass(frozen=True)
class Form8949Line:
    """One disposal (or one lot slice of it) as a row of Form 8949."""

    description: str  # column (a), e.g. "0.5 BTC" (see `describe`)
    date_acquired: date | None  # column (b); None → "VARIOUS" (pooled / average cost)
    date_sold: date  # column (c)
    proceeds: Decimal  # column (d)
    cost: Decimal  # column (e)
    adjustment_code: str = ""  # column (f)
    adjustment: Decimal = Decimal(0)  # column (g), signed: negative reduces the gain
    term: str = "short"  # "short" (Part I) | "long" (Part II)
    box: str = ""  # checkbox letter; "" → DEFAULT_BOX[term]
    reference: str = ""  # disposal / lot id: in the CSV only, for audit

    def __post_init__(self) -> None:
        if self.term not in _PART_OF_TERM:
            raise ValueError(
                f"term must be 'short' or 'long', not {self.term!r} ({self.reference or self.description})"
            )
        allowed = SHORT_TERM_BOXES if self.term == "short" else LONG_TERM_BOXES
        if self.box and self.box not in allowed:
            raise ValueError(
                f"box {self.box!r} is not a {self.term}-term box of Form 8949 (one of {', '.join(allowed)}) "
                f"({self.reference or self.description})"
            )
        for name in ("proceeds", "cost", "adjustment"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise TypeError(
                    f"{name} must be a finite Decimal, not {value!r} ({self.reference or self.description})"
                )
        if not isinstance(self.date_sold, date):
            raise TypeError(f"date_sold must be a date, not {self.date_sold!r}")
        if self.date_acquired is not None:
            if not isinstance(self.date_acquired, date):
                raise TypeError(f"date_acquired must be a date or None, not {self.date_acquired!r}")
            if _as_date(self.date_acquired) > _as_date(self.date_sold):
                raise ValueError(f"date_acquired is after date_sold ({self.reference or self.description})")

    @property
    def gain(self) -> Decimal:
        """Column (h), unrounded: proceeds - cost + adjustment."""
        return self.proceeds - self.cost + self.adjustment

    @property
    def part(self) -> str:
        """Form part: "I" (short-term) or "II" (long-term)."""
        return _PART_OF_TERM[self.term]

    @property
    def resolved_box(self) -> str:
        """The checkbox letter the writer uses: `box`, or the default for the term."""
        return self.box or DEFAULT_BOX[self.term]


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class _Row:
    """A line as printed. Each amount is rounded to cents first, and the gain shown is computed from the rounded
    amounts, (d) - (e) + (g), so every row adds up across and every totals line adds up down the column exactly
    from the figures shown; it may differ by a cent from `Form8949Line.gain` rounded on its own."""

    line: Form8949Line
    proceeds: Decimal
    cost: Decimal
    adjustment: Decimal
    gain: Decimal

    @classmethod
    def of(cls, line: Form8949Line) -> _Row:
        proceeds, cost, adjustment = to_cents(line.proceeds), to_cents(line.cost), to_cents(line.adjustment)
        return cls(line, proceeds, cost, adjustment, proceeds - cost + adjustment)


@dataclass(frozen=True)
class _Group:
    """The lines of one (part, box): one set of Form 8949 pages with one totals line."""

    part: str
    box: str
    term: str
    rows: tuple[_Row, ...]

    # Totals are sums of the rounded line amounts (never the rounded sum of raw amounts), so they add up exactly
    # from the lines shown on the form and in the CSV.
    @property
    def proceeds(self) -> Decimal:
        return sum((r.proceeds for r in self.rows), Decimal("0.00"))

    @property
    def cost(self) -> Decimal:
        return sum((r.cost for r in self.rows), Decimal("0.00"))

    @property
    def adjustment(self) -> Decimal:
        return sum((r.adjustment for r in self.rows), Decimal("0.00"))

    @property
    def gain(self) -> Decimal:
        return sum((r.gain for r in self.rows), Decimal("0.00"))


def _groups(lines: Sequence[Form8949Line], tax_year: int) -> list[_Group]:
    """Lines grouped by (part, box): Part I before Part II, boxes in letter order, lines in input order."""
    buckets: dict[tuple[str, str], list[_Row]] = {}
    for line in lines:
        if not isinstance(line, Form8949Line):
            raise TypeError(f"expected Form8949Line, not {type(line).__name__}")
        if line.date_sold.year != tax_year:
            raise ValueError(
                f"{line.reference or line.description}: sold on {_as_date(line.date_sold).isoformat()}, "
                f"outside tax year {tax_year}"
            )
        buckets.setdefault((line.part, line.resolved_box), []).append(_Row.of(line))
    ordered = sorted(buckets, key=lambda key: (len(key[0]), key[1]))  # "I" before "II", then the box letter
    return [_Group(part, box, "short" if part == "I" else "long", tuple(buckets[(part, box)])) for part, box in ordered]


# ---------------------------------------------------------------------------------------------------------- CSV


def _csv_amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _csv_text(text: str) -> str:
    """Free text made safe for spreadsheets: a cell starting with = + - @ (or a tab / CR) would be read as a
    formula (CSV injection, e.g. from an NFT's name), so it is prefixed with an apostrophe."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _write_csv(path: Path, groups: Sequence[_Group]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for group in groups:
            for row in group.rows:
                line = row.line
                writer.writerow(
                    (
                        group.part,
                        group.box,
                        _csv_text(line.description),
                        _as_date(line.date_acquired).isoformat() if line.date_acquired is not None else VARIOUS,
                        _as_date(line.date_sold).isoformat(),
                        _csv_amount(row.proceeds),
                        _csv_amount(row.cost),
                        _csv_text(line.adjustment_code),
                        _csv_amount(row.adjustment),
                        _csv_amount(row.gain),
                        line.term,
                        _csv_text(line.reference),
                    )
                )
            writer.writerow(
                (
                    group.part,
                    group.box,
                    f"TOTAL {group.part} box {group.box}",
                    "",
                    "",
                    _csv_amount(group.proceeds),
                    _csv_amount(group.cost),
                    "",
                    _csv_amount(group.adjustment),
                    _csv_amount(group.gain),
                    group.term,
                    "",
                )
            )


# ---------------------------------------------------------------------------------------------------------- PDF

# Landscape US Letter in points (1/72 in).
_PAGE_W, _PAGE_H = 792.0, 612.0
_MARGIN = 36.0
_USABLE_W = _PAGE_W - 2 * _MARGIN
_HEADINGS_Y = 80.0
_HEADINGS_H = 44.0
_ADJ_BAND_H = 11.0
_BODY_TOP = _HEADINGS_Y + _HEADINGS_H
_BODY_BOTTOM = 560.0
_ROW_H = 13.0
ROWS_PER_PAGE = int((_BODY_BOTTOM - _BODY_TOP) // _ROW_H)  # the totals line takes one of these slots

Align = Literal["L", "C", "R"]
# (width, alignment, heading lines); widths add up to the usable width (720 pt).
_COLUMNS: tuple[tuple[float, Align, tuple[str, ...]], ...] = (
    (230.0, "L", ("(a) Description of property", "(Example: 0.5 BTC)")),
    (62.0, "C", ("(b) Date acquired", "(mm/dd/yyyy)")),
    (62.0, "C", ("(c) Date sold or", "disposed of", "(mm/dd/yyyy)")),
    (80.0, "R", ("(d) Proceeds", "(sales price)")),
    (80.0, "R", ("(e) Cost or other", "basis")),
    (36.0, "C", ("(f) Code(s)",)),
    (80.0, "R", ("(g) Amount of", "adjustment")),
    (90.0, "R", ("(h) Gain or (loss)", "(d) minus (e),", "combined with (g)")),
)
_ADJ_COLUMNS = (5, 6)  # (f) and (g) sit under "Adjustment, if any, to gain or loss"

DISCLAIMER = (
    "Computer-generated substitute layout of IRS Form 8949 (Sales and Other Dispositions of Capital Assets), "
    "prepared by Coinbook from its tax-lot records.",
    "It is not the official IRS form: have it reviewed by a tax professional before filing.",
)


def _pdf_text(text: str) -> str:
    """`text` reduced to what the PDF core fonts can show (Windows-1252): accents that cannot be shown are
    dropped ("ő" → "o"), other characters become "?", control characters become spaces. Never raises."""
    out: list[str] = []
    for char in text:
        if unicodedata.category(char) == "Cc":
            out.append(" ")
            continue
        try:
            char.encode("cp1252")
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        try:
            base.encode("cp1252")
            out.append(base or "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out)


def _pdf_amount(value: Decimal) -> str:
    """1234.5 → "1,234.50"; negative amounts in parentheses: "(1,234.56)"."""
    text = f"{abs(value):,.2f}"
    return f"({text})" if value < 0 else text


def _pdf_date(value: date | None) -> str:
    return VARIOUS if value is None else f"{_as_date(value):%m/%d/%Y}"


class _Form8949Pdf(FPDF):
    """Header (title, part, checked box, column headings) and footer (disclaimer, page number) on every page."""

    def __init__(self, taxpayer: str, tax_year: int) -> None:
        super().__init__(orientation="landscape", unit="pt", format="letter")
        self.core_fonts_encoding = "windows-1252"  # the core fonts are declared /WinAnsiEncoding
        self.taxpayer = _pdf_text(taxpayer)
        self.tax_year = tax_year
        self.group: _Group | None = None
        self.sheet = (1, 1)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(False)
        self.set_draw_color(140)
        self.set_line_width(0.5)

    def fit(self, text: str, width: float) -> str:
        """`text` cut with "..." so that it fits in a cell of `width` (cell padding included)."""
        room = width - 2 * self.c_margin
        if self.get_string_width(text) <= room:
            return text
        while text and self.get_string_width(text + "...") > room:
            text = text[:-1]
        return text + "..."

    def header(self) -> None:
        self.set_text_color(0)
        self.set_xy(_MARGIN, 28)
        self.set_font("Helvetica", "", 9)
        self.cell(_USABLE_W, 16, "Sales and Other Dispositions of Capital Assets", align="R")
        self.set_xy(_MARGIN, 28)
        self.set_font("Helvetica", "B", 13)
        self.cell(_USABLE_W - 230, 16, self.fit(f"Form 8949 ({self.tax_year}) — {self.taxpayer}", _USABLE_W - 230))
        group = self.group
        if group is None:
            return
        title, subtitle = _PART_TITLE[group.part]
        if self.sheet[0] > 1:
            title += " (continued)"
        self.set_xy(_MARGIN, 47)
        self.set_font("Helvetica", "B", 10)
        width = self.get_string_width(title) + 2 * self.c_margin
        self.cell(width, 14, title)
        self.set_font("Helvetica", "", 9)
        self.cell(_USABLE_W - width - 150, 14, self.fit(subtitle, _USABLE_W - width - 150))
        self.set_font("Helvetica", "", 8)
        self.cell(150, 14, f"Box {group.box}: sheet {self.sheet[0]} of {self.sheet[1]}", align="R")
        # The checked box: a square with an X, then its letter and meaning.
        self.rect(_MARGIN + 1, 64, 9, 9)
        self.set_xy(_MARGIN + 1, 64)
        self.set_font("Helvetica", "B", 8)
        self.cell(9, 9, "X", align="C")
        self.set_xy(_MARGIN + 14, 62)
        self.set_font("Helvetica", "B", 9)
        label = f"Box {group.box}"
        width = self.get_string_width(label) + 2 * self.c_margin
        self.cell(width, 13, label)
        self.set_font("Helvetica", "", 9)
        self.cell(_USABLE_W - 14 - width, 13, self.fit(f"checked: {BOX_MEANINGS[group.box]}", _USABLE_W - 14 - width))
        self._column_headings()

    def _column_headings(self) -> None:
        x = _MARGIN
        self.set_fill_color(235)
        self.set_font("Helvetica", "B", 7)
        adj_x = _MARGIN + sum(w for w, _, _ in _COLUMNS[: _ADJ_COLUMNS[0]])
        adj_w = sum(_COLUMNS[i][0] for i in _ADJ_COLUMNS)
        self.rect(adj_x, _HEADINGS_Y, adj_w, _ADJ_BAND_H, style="DF")
        self.set_xy(adj_x, _HEADINGS_Y)
        self.cell(adj_w, _ADJ_BAND_H, "Adjustment, if any, to gain or loss", align="C")
        for index, (width, _, heading) in enumerate(_COLUMNS):
            top = _HEADINGS_Y + (_ADJ_BAND_H if index in _ADJ_COLUMNS else 0)
            height = _HEADINGS_Y + _HEADINGS_H - top
            self.rect(x, top, width, height, style="DF")
            line_h = 8.5
            y = top + (height - line_h * len(heading)) / 2
            for text in heading:
                self.set_xy(x, y)
                self.cell(width, line_h, text, align="C")
                y += line_h
            x += width

    def footer(self) -> None:
        self.set_text_color(60)
        self.set_font("Helvetica", "I", 7)
        y = _PAGE_H - 46
        for text in DISCLAIMER:
            self.set_xy(_MARGIN, y)
            self.cell(_USABLE_W - 90, 9, text)
            y += 9
        self.set_xy(_PAGE_W - _MARGIN - 90, _PAGE_H - 37)
        self.set_font("Helvetica", "", 8)
        self.cell(90, 9, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)

    def table_cell(self, width: float, text: str, align: Align, *, bold: bool = False, cut: bool = False) -> None:
        """A bordered 8 pt cell at the current position. Text that does not fit is cut with "..." when `cut` (the
        description: the CSV keeps it whole); otherwise (dates, codes, amounts) the font shrinks instead, so that a
        number is never shown partly."""
        size = 8.0
        self.set_font("Helvetica", "B" if bold else "", size)
        room = width - 2 * self.c_margin
        if cut:
            text = self.fit(text, width)
        else:
            while size > 4 and self.get_string_width(text) > room:
                size -= 0.5
                self.set_font_size(size)
        self.cell(width, _ROW_H, text, border=1, align=align, fill=bold)

    def row(self, cells: Sequence[str]) -> None:
        """One table row at the current y (cells for columns (a)-(h))."""
        y = self.get_y()
        x = _MARGIN
        for index, ((width, align, _), text) in enumerate(zip(_COLUMNS, cells, strict=True)):
            self.set_xy(x, y)
            self.table_cell(width, text, align, cut=index == 0)
            x += width
        self.set_xy(_MARGIN, y + _ROW_H)

    def totals_row(self, group: _Group) -> None:
        """Line 2 of the part: the group's totals of columns (d), (e), (g) and (h), in bold on a grey ground."""
        y = self.get_y()
        label_w = sum(w for w, _, _ in _COLUMNS[:3])
        count = len(group.rows)
        self.set_fill_color(235)
        self.set_xy(_MARGIN, y)
        label = f"2  Totals, box {group.box} ({count} transaction{'s' if count != 1 else ''})"
        self.table_cell(label_w, label, "L", bold=True, cut=True)
        amounts = (
            _pdf_amount(group.proceeds),
            _pdf_amount(group.cost),
            "",
            _pdf_amount(group.adjustment),
            _pdf_amount(group.gain),
        )
        x = _MARGIN + label_w
        for (width, align, _), text in zip(_COLUMNS[3:], amounts, strict=True):
            self.set_xy(x, y)
            self.table_cell(width, text, align, bold=True)
            x += width
        self.set_xy(_MARGIN, y + _ROW_H)


def _pages(rows: Sequence[_Row]) -> list[Sequence[_Row]]:
    """Rows split into pages of at most ROWS_PER_PAGE slots, keeping a slot free on the last page for the totals
    line (so a group never ends with a page holding the totals alone)."""
    pages: list[Sequence[_Row]] = []
    rest = rows
    while len(rest) >= ROWS_PER_PAGE:
        take = ROWS_PER_PAGE if len(rest) > ROWS_PER_PAGE else ROWS_PER_PAGE - 1
        pages.append(rest[:take])
        rest = rest[take:]
    pages.append(rest)
    return pages


def _render_pdf(groups: Sequence[_Group], *, taxpayer: str, tax_year: int) -> bytes:
    pdf = _Form8949Pdf(taxpayer, tax_year)
    pdf.set_title(f"Form 8949 ({tax_year}) — {pdf.taxpayer}")
    pdf.set_subject("Sales and Other Dispositions of Capital Assets (substitute layout)")
    pdf.set_creator("Coinbook")
    # A fixed creation date (1 January after the tax year, UTC) rather than "now": the bytes, and the /ID that
    # fpdf2 derives from them, then depend only on the inputs, so a rerun gives an identical file.
    pdf.set_creation_date(datetime(tax_year + 1, 1, 1, tzinfo=UTC))
    if not groups:
        pdf.add_page()
        pdf.set_xy(_MARGIN, _HEADINGS_Y)
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(
            _USABLE_W,
            16,
            f"No dispositions of capital assets were recorded for tax year {tax_year}: "
            "there are no transactions to report on Form 8949.",
        )
    for group in groups:
        pages = _pages(group.rows)
        for number, page_rows in enumerate(pages, start=1):
            pdf.group = group
            pdf.sheet = (number, len(pages))
            pdf.add_page()
            pdf.set_xy(_MARGIN, _BODY_TOP)
            for row in page_rows:
                line = row.line
                adjusted = bool(line.adjustment_code) or row.adjustment != 0
                pdf.row(
                    (
                        _pdf_text(line.description),
                        _pdf_date(line.date_acquired),
                        _pdf_date(line.date_sold),
                        _pdf_amount(row.proceeds),
                        _pdf_amount(row.cost),
                        _pdf_text(line.adjustment_code),
                        _pdf_amount(row.adjustment) if adjusted else "",
                        _pdf_amount(row.gain),
                    )
                )
            if number == len(pages):
                pdf.totals_row(group)
    return bytes(pdf.output())


# -------------------------------------------------------------------------------------------------------- entry


def write_form_8949(
    lines: Sequence[Form8949Line],
    out_dir: Path,
    *,
    taxpayer: str,
    tax_year: int,
    basename: str | None = None,
) -> tuple[Path, Path]:
    """Writes <basename>.csv and <basename>.pdf (basename default f"form8949_{tax_year}") into out_dir (created if
    missing); returns (csv_path, pdf_path).

    Raises ValueError for a line sold outside `tax_year` (and TypeError for anything that is not a Form8949Line);
    nothing is written then. With no lines both files are still written: the CSV with its header only, the PDF
    with a page saying there were no dispositions in the year."""
    name = basename if basename is not None else f"form8949_{tax_year}"
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"basename must be a plain file name, not {name!r}")
    groups = _groups(lines, tax_year)
    pdf_bytes = _render_pdf(groups, taxpayer=taxpayer, tax_year=tax_year)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, pdf_path = out / f"{name}.csv", out / f"{name}.pdf"
    _write_csv(csv_path, groups)
    pdf_path.write_bytes(pdf_bytes)
    return csv_path, pdf_path
