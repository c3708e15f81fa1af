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

Disposals whose cost basis (or proceeds) is unknown cannot be lines of the form, and are never counted at zero:
they are `UnknownBasisLine`s, listed after Parts I and II in a section of their own (proceeds shown, basis and gain
"unknown", the reason), and every totals line says what it excludes (`exclusion_note`), in the PDF and the CSV.

Money is Decimal throughout and is rounded to cents (ROUND_HALF_UP) only for output; see `_Row`.

Why one module of ~750 lines: one form's layout — its columns, boxes, page geometry, totals and the CSV that
mirrors it — read together against the IRS instructions; split, the page arithmetic would hide across files.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from pipelines.services.reports.pdf_layout import (
    MARGIN,
    PAGE_H,
    PAGE_W,
    USABLE_W,
    Align,
    ReportPdf,
    pdf_text,
    to_cents,
)

__all__ = [
    "BOX_MEANINGS",
    "CSV_COLUMNS",
    "DEFAULT_BOX",
    "ROWS_PER_PAGE",
    "Form8949Line",
    "UnknownBasis",
    "UnknownBasisLine",
    "describe",
    "exclusion_note",
    "to_cents",
    "unknown_basis",
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
    "note",  # why a line is in the unknown-basis section; on a totals row, what the totals exclude
)

_T = TypeVar("_T")
VARIOUS = "VARIOUS"
UNKNOWN = "unknown"
UNKNOWN_PART = "unknown"  # the CSV's part column for the lines that are not on the form


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
class UnknownBasisLine:
    """A disposal (or one lot slice of it) that cannot be a line of Form 8949: its cost basis, or its proceeds, is
    unknown. Listed apart, never in the totals, never counted at zero."""

    description: str  # as column (a), e.g. "0.5 BTC"
    date_acquired: date | None  # None: unknown (no lot to take it from)
    date_sold: date
    proceeds: Decimal | None  # None: no price on the day
    reason: str  # why it is not on the form, and what would put it there
    cost: Decimal | None = None  # known when only the proceeds are missing
    term: str = ""  # "short" | "long" when the acquisition date is known, else ""
    disposal: str = ""  # the disposal this slice belongs to (one disposal may have several); "" → a disposal alone
    reference: str = ""  # disposal / lot id: in the CSV only, for audit

    def __post_init__(self) -> None:
        label = self.reference or self.description
        if self.term not in ("", *_PART_OF_TERM):
            raise ValueError(f"term must be 'short', 'long' or '', not {self.term!r} ({label})")
        for name in ("proceeds", "cost"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                raise TypeError(f"{name} must be a finite Decimal or None, not {value!r} ({label})")
        if self.proceeds is not None and self.cost is not None:
            raise ValueError(f"both proceeds and cost are known: a line of the form, not an unknown one ({label})")
        if not isinstance(self.date_sold, date):
            raise TypeError(f"date_sold must be a date, not {self.date_sold!r}")
        if self.date_acquired is not None and _as_date(self.date_acquired) > _as_date(self.date_sold):
            raise ValueError(f"date_acquired is after date_sold ({label})")


@dataclass(frozen=True)
class UnknownBasis:
    """What the unknown-basis section holds, counted once for every place that reports it."""

    lines: int
    disposals: int
    proceeds: Decimal  # sum of the known proceeds, each rounded to cents first (as shown)
    unpriced: int  # lines whose proceeds are unknown too


def unknown_basis(unknown: Sequence[UnknownBasisLine]) -> UnknownBasis:
    """Lines, distinct disposals and shown proceeds of the unknown-basis lines."""
    disposals = len({line.disposal for line in unknown if line.disposal}) + sum(1 for x in unknown if not x.disposal)
    proceeds = sum((to_cents(line.proceeds) for line in unknown if line.proceeds is not None), Decimal("0.00"))
    return UnknownBasis(len(unknown), disposals, proceeds, sum(1 for line in unknown if line.proceeds is None))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def exclusion_note(summary: UnknownBasis) -> str:
    """What every totals line leaves out: "Totals exclude 195 lines (194 disposals) with unknown cost basis,
    proceeds 326,423.86: listed under "Not on the form" after Part II". Empty when nothing is left out."""
    if not summary.lines:
        return ""
    unpriced = f" (and {_count(summary.unpriced, 'line')} without proceeds)" if summary.unpriced else ""
    return (
        f"Totals exclude {_count(summary.lines, 'line')} ({_count(summary.disposals, 'disposal')}) with "
        f"unknown cost basis, proceeds {_pdf_amount(summary.proceeds)}{unpriced}: listed under "
        f'"Not on the form" after Part II'
    )


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
        _check_line(line, Form8949Line, tax_year)
        buckets.setdefault((line.part, line.resolved_box), []).append(_Row.of(line))
    ordered = sorted(buckets, key=lambda key: (len(key[0]), key[1]))  # "I" before "II", then the box letter
    return [_Group(part, box, "short" if part == "I" else "long", tuple(buckets[(part, box)])) for part, box in ordered]


def _check_line(line: Form8949Line | UnknownBasisLine, kind: type, tax_year: int) -> None:
    """A line of the expected kind, sold in the form's tax year."""
    if not isinstance(line, kind):
        raise TypeError(f"expected {kind.__name__}, not {type(line).__name__}")
    if line.date_sold.year != tax_year:
        raise ValueError(
            f"{line.reference or line.description}: sold on {_as_date(line.date_sold).isoformat()}, "
            f"outside tax year {tax_year}"
        )


def _checked_unknown(unknown: Sequence[UnknownBasisLine], tax_year: int) -> tuple[UnknownBasisLine, ...]:
    for line in unknown:
        _check_line(line, UnknownBasisLine, tax_year)
    return tuple(unknown)


# ---------------------------------------------------------------------------------------------------------- CSV


def _csv_amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _csv_text(text: str) -> str:
    """Free text made safe for spreadsheets: a cell starting with = + - @ (or a tab / CR) would be read as a
    formula (CSV injection, e.g. from an NFT's name), so it is prefixed with an apostrophe."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_date(value: date | None, missing: str) -> str:
    return _as_date(value).isoformat() if value is not None else missing


def _csv_maybe(value: Decimal | None) -> str:
    return _csv_amount(to_cents(value)) if value is not None else UNKNOWN


def _write_csv(path: Path, groups: Sequence[_Group], unknown: Sequence[UnknownBasisLine]) -> None:
    note = exclusion_note(unknown_basis(unknown))
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
                        _csv_date(line.date_acquired, VARIOUS),
                        _as_date(line.date_sold).isoformat(),
                        _csv_amount(row.proceeds),
                        _csv_amount(row.cost),
                        _csv_text(line.adjustment_code),
                        _csv_amount(row.adjustment),
                        _csv_amount(row.gain),
                        line.term,
                        _csv_text(line.reference),
                        "",
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
                    note,
                )
            )
        writer.writerows(_unknown_csv_rows(unknown))


def _unknown_csv_rows(unknown: Sequence[UnknownBasisLine]) -> list[tuple[str, ...]]:
    """The lines not on the form (part "unknown"), then their own TOTAL row: proceeds only."""
    if not unknown:
        return []
    rows = [
        (
            UNKNOWN_PART,
            "",
            _csv_text(line.description),
            _csv_date(line.date_acquired, UNKNOWN),
            _as_date(line.date_sold).isoformat(),
            _csv_maybe(line.proceeds),
            _csv_maybe(line.cost),
            "",
            "",
            UNKNOWN,
            line.term,
            _csv_text(line.reference),
            _csv_text(line.reason),
        )
        for line in unknown
    ]
    summary = unknown_basis(unknown)
    rows.append(
        (
            UNKNOWN_PART,
            "",
            "TOTAL not on the form",
            "",
            "",
            _csv_amount(summary.proceeds),
            UNKNOWN,
            "",
            "",
            UNKNOWN,
            "",
            "",
            f"{_count(summary.lines, 'line')} ({_count(summary.disposals, 'disposal')}) with unknown cost basis: "
            "not in the totals of Part I or Part II",
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------------------- PDF

# The page: pdf_layout (landscape US Letter in points).
_HEADINGS_Y = 80.0
_HEADINGS_H = 44.0
_ADJ_BAND_H = 11.0
_BODY_TOP = _HEADINGS_Y + _HEADINGS_H
_BODY_BOTTOM = 560.0
_ROW_H = 13.0
ROWS_PER_PAGE = int((_BODY_BOTTOM - _BODY_TOP) // _ROW_H)  # the totals line takes one of these slots

Columns = tuple[tuple[float, Align, tuple[str, ...]], ...]
# (width, alignment, heading lines); widths add up to the usable width (720 pt).
_COLUMNS: Columns = (
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
# The section of lines that are not on the form: no adjustment columns, a reason instead (widths add up to 720 pt).
_UNKNOWN_COLUMNS: Columns = (
    (200.0, "L", ("(a) Description of property", "(Example: 0.5 BTC)")),
    (62.0, "C", ("(b) Date acquired", "(mm/dd/yyyy)")),
    (62.0, "C", ("(c) Date sold or", "disposed of", "(mm/dd/yyyy)")),
    (80.0, "R", ("(d) Proceeds", "(sales price)")),
    (64.0, "C", ("(e) Cost or other", "basis")),
    (64.0, "C", ("(h) Gain or (loss)",)),
    (188.0, "L", ("Why it is not on the form",)),
)
_UNKNOWN_TITLE = "Not on the form — cost basis unknown"
_UNKNOWN_WARNING = (
    "NOT included in the totals of Part I or Part II: the cost basis (or the proceeds) of these dispositions is "
    "unknown. Supply it, then produce the form again."
)

DISCLAIMER = (
    "Computer-generated substitute layout of IRS Form 8949 (Sales and Other Dispositions of Capital Assets), "
    "prepared by Coinbook from its tax-lot records.",
    "It is not the official IRS form: have it reviewed by a tax professional before filing.",
)


def _pdf_amount(value: Decimal) -> str:
    """1234.5 → "1,234.50"; negative amounts in parentheses: "(1,234.56)"."""
    text = f"{abs(value):,.2f}"
    return f"({text})" if value < 0 else text


def _pdf_date(value: date | None, missing: str = VARIOUS) -> str:
    return missing if value is None else f"{_as_date(value):%m/%d/%Y}"


def _pdf_maybe(value: Decimal | None) -> str:
    return UNKNOWN if value is None else _pdf_amount(to_cents(value))


class _Form8949Pdf(ReportPdf):
    """Header (title, part, checked box, column headings) and footer (disclaimer, page number) on every page."""

    def __init__(self, taxpayer: str, tax_year: int, flag: str | None = None) -> None:
        super().__init__()
        self.taxpayer = pdf_text(taxpayer)
        self.flag = pdf_text(flag) if flag else None  # e.g. no valid KYC record: above the title on every page
        self.tax_year = tax_year
        self.group: _Group | None = None
        self.unknown_section = False  # pages of the lines that are not on the form
        self.sheet = (1, 1)
        self.set_draw_color(140)
        self.set_line_width(0.5)

    def header(self) -> None:
        if self.flag:
            self.set_text_color(180, 0, 0)
            self.set_xy(MARGIN, 12)
            self.set_font("Helvetica", "B", 9)
            self.cell(USABLE_W, 12, self.fit(self.flag, USABLE_W))
        self.set_text_color(0)
        self.set_xy(MARGIN, 28)
        self.set_font("Helvetica", "", 9)
        self.cell(USABLE_W, 16, "Sales and Other Dispositions of Capital Assets", align="R")
        self.set_xy(MARGIN, 28)
        self.set_font("Helvetica", "B", 13)
        self.cell(USABLE_W - 230, 16, self.fit(f"Form 8949 ({self.tax_year}) — {self.taxpayer}", USABLE_W - 230))
        if self.unknown_section:
            self._unknown_header()
            return
        group = self.group
        if group is None:
            return
        title, subtitle = _PART_TITLE[group.part]
        if self.sheet[0] > 1:
            title += " (continued)"
        self.set_xy(MARGIN, 47)
        self.set_font("Helvetica", "B", 10)
        width = self.get_string_width(title) + 2 * self.c_margin
        self.cell(width, 14, title)
        self.set_font("Helvetica", "", 9)
        self.cell(USABLE_W - width - 150, 14, self.fit(subtitle, USABLE_W - width - 150))
        self.set_font("Helvetica", "", 8)
        self.cell(150, 14, f"Box {group.box}: sheet {self.sheet[0]} of {self.sheet[1]}", align="R")
        # The checked box: a square with an X, then its letter and meaning.
        self.rect(MARGIN + 1, 64, 9, 9)
        self.set_xy(MARGIN + 1, 64)
        self.set_font("Helvetica", "B", 8)
        self.cell(9, 9, "X", align="C")
        self.set_xy(MARGIN + 14, 62)
        self.set_font("Helvetica", "B", 9)
        label = f"Box {group.box}"
        width = self.get_string_width(label) + 2 * self.c_margin
        self.cell(width, 13, label)
        self.set_font("Helvetica", "", 9)
        self.cell(USABLE_W - 14 - width, 13, self.fit(f"checked: {BOX_MEANINGS[group.box]}", USABLE_W - 14 - width))
        self._column_headings(_COLUMNS, _ADJ_COLUMNS)

    def _unknown_header(self) -> None:
        """The section after Part II: its title, and in bold that none of it is in the form's totals."""
        title = _UNKNOWN_TITLE + (" (continued)" if self.sheet[0] > 1 else "")
        self.set_xy(MARGIN, 47)
        self.set_font("Helvetica", "B", 10)
        self.cell(USABLE_W - 150, 14, title)
        self.set_font("Helvetica", "", 8)
        self.cell(150, 14, f"Not on the form: sheet {self.sheet[0]} of {self.sheet[1]}", align="R")
        self.set_xy(MARGIN, 62)
        self.set_font("Helvetica", "B", 8.5)
        self.set_text_color(150, 0, 0)
        self.cell(USABLE_W, 13, self.fit(_UNKNOWN_WARNING, USABLE_W))
        self.set_text_color(0)
        self._column_headings(_UNKNOWN_COLUMNS, ())

    def _column_headings(self, columns: Columns, adjustment: tuple[int, ...]) -> None:
        x = MARGIN
        self.set_fill_color(235)
        self.set_font("Helvetica", "B", 7)
        if adjustment:
            adj_x = MARGIN + sum(w for w, _, _ in columns[: adjustment[0]])
            adj_w = sum(columns[i][0] for i in adjustment)
            self.rect(adj_x, _HEADINGS_Y, adj_w, _ADJ_BAND_H, style="DF")
            self.set_xy(adj_x, _HEADINGS_Y)
            self.cell(adj_w, _ADJ_BAND_H, "Adjustment, if any, to gain or loss", align="C")
        for index, (width, _, heading) in enumerate(columns):
            top = _HEADINGS_Y + (_ADJ_BAND_H if index in adjustment else 0)
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
        y = PAGE_H - 46
        for text in DISCLAIMER:
            self.set_xy(MARGIN, y)
            self.cell(USABLE_W - 90, 9, text)
            y += 9
        self.set_xy(PAGE_W - MARGIN - 90, PAGE_H - 37)
        self.set_font("Helvetica", "", 8)
        self.cell(90, 9, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)

    def table_cell(self, width: float, text: str, align: Align, *, bold: bool = False, cut: bool = False) -> None:
        """A bordered 8 pt cell at the current position. Text that does not fit is cut with "..." when `cut` (the
        description: the CSV keeps it whole); otherwise (dates, codes, amounts) the font shrinks instead, so that a
        number is never shown partly."""
        self.fitted_cell(width, _ROW_H, text, align, size=8.0, min_size=4, cut=cut, bold=bold, fill=bold)

    def row(self, cells: Sequence[str], columns: Columns = _COLUMNS) -> None:
        """One table row at the current y (cells for columns (a)-(h), or of the unknown-basis section). Text
        columns (the first, and a last left-aligned one: the reason) are cut; amounts and dates shrink."""
        y = self.get_y()
        x = MARGIN
        for index, ((width, align, _), text) in enumerate(zip(columns, cells, strict=True)):
            self.set_xy(x, y)
            self.table_cell(width, text, align, cut=index == 0 or (index == len(columns) - 1 and align == "L"))
            x += width
        self.set_xy(MARGIN, y + _ROW_H)

    def note_row(self, text: str) -> None:
        """A line of italic text under a totals line, across the table: what the totals leave out."""
        y = self.get_y()
        self.set_xy(MARGIN, y)
        self.set_font("Helvetica", "BI", 7.5)
        self.set_text_color(150, 0, 0)
        self.cell(USABLE_W, _ROW_H, self.fit(pdf_text(text), USABLE_W))
        self.set_text_color(0)
        self.set_xy(MARGIN, y + _ROW_H)

    def totals_row(self, label: str, cells: Sequence[str], columns: Columns = _COLUMNS) -> None:
        """A totals line in bold on a grey ground: `label` across columns (a)-(c), then `cells` for the rest."""
        y = self.get_y()
        label_w = sum(w for w, _, _ in columns[:3])
        self.set_fill_color(235)
        self.set_xy(MARGIN, y)
        self.table_cell(label_w, label, "L", bold=True, cut=True)
        x = MARGIN + label_w
        for index, ((width, align, _), text) in enumerate(zip(columns[3:], cells, strict=True), start=3):
            self.set_xy(x, y)
            self.table_cell(width, text, align, bold=True, cut=index == len(columns) - 1 and align == "L")
            x += width
        self.set_xy(MARGIN, y + _ROW_H)

    def group_totals_row(self, group: _Group) -> None:
        """Line 2 of the part: the group's totals of columns (d), (e), (g) and (h)."""
        count = len(group.rows)
        label = f"2  Totals, box {group.box} ({count} transaction{'s' if count != 1 else ''})"
        amounts = (
            _pdf_amount(group.proceeds),
            _pdf_amount(group.cost),
            "",
            _pdf_amount(group.adjustment),
            _pdf_amount(group.gain),
        )
        self.totals_row(label, amounts)


def _pages(rows: Sequence[_T], reserved: int = 1) -> list[Sequence[_T]]:
    """Rows split into pages of at most ROWS_PER_PAGE slots, keeping `reserved` slots free on the last page for
    the totals line (and the note under it), so a group never ends with a page holding the totals alone."""
    pages: list[Sequence[_T]] = []
    rest = rows
    while len(rest) + reserved > ROWS_PER_PAGE:
        take = ROWS_PER_PAGE if len(rest) > ROWS_PER_PAGE else ROWS_PER_PAGE - reserved
        pages.append(rest[:take])
        rest = rest[take:]
    pages.append(rest)
    return pages


def _render_pdf(
    groups: Sequence[_Group], unknown: Sequence[UnknownBasisLine], *, taxpayer: str, tax_year: int,
    flag: str | None = None,
) -> bytes:
    pdf = _Form8949Pdf(taxpayer, tax_year, flag)
    pdf.set_title(f"Form 8949 ({tax_year}) — {pdf.taxpayer}")
    pdf.set_subject("Sales and Other Dispositions of Capital Assets (substitute layout)")
    pdf.set_creator("Coinbook")
    # A fixed creation date (1 January after the tax year, UTC) rather than "now": the bytes, and the /ID that
    # fpdf2 derives from them, then depend only on the inputs, so a rerun gives an identical file.
    pdf.set_creation_date(datetime(tax_year + 1, 1, 1, tzinfo=UTC))
    note = exclusion_note(unknown_basis(unknown))
    if not groups:
        pdf.add_page()
        pdf.set_xy(MARGIN, _HEADINGS_Y)
        pdf.set_font("Helvetica", "", 11)
        summary = unknown_basis(unknown)
        text = (
            f"No dispositions of capital assets were recorded for tax year {tax_year}: "
            "there are no transactions to report on Form 8949."
            if not unknown
            else f"No dispositions of capital assets with a known cost basis were recorded for tax year {tax_year}: "
            f"the {_count(summary.lines, 'line')} ({_count(summary.disposals, 'disposal')}) listed under "
            '"Not on the form" need their cost basis before they can be reported on Form 8949.'
        )
        pdf.multi_cell(USABLE_W, 16, text)
    for group in groups:
        pages = _pages(group.rows, reserved=2 if note else 1)
        for number, page_rows in enumerate(pages, start=1):
            pdf.group = group
            pdf.sheet = (number, len(pages))
            pdf.add_page()
            pdf.set_xy(MARGIN, _BODY_TOP)
            for row in page_rows:
                line = row.line
                adjusted = bool(line.adjustment_code) or row.adjustment != 0
                pdf.row(
                    (
                        pdf_text(line.description),
                        _pdf_date(line.date_acquired),
                        _pdf_date(line.date_sold),
                        _pdf_amount(row.proceeds),
                        _pdf_amount(row.cost),
                        pdf_text(line.adjustment_code),
                        _pdf_amount(row.adjustment) if adjusted else "",
                        _pdf_amount(row.gain),
                    )
                )
            if number == len(pages):
                pdf.group_totals_row(group)
                if note:
                    pdf.note_row(note)
    _render_unknown(pdf, unknown)
    return bytes(pdf.output())


def _render_unknown(pdf: _Form8949Pdf, unknown: Sequence[UnknownBasisLine]) -> None:
    """The section after Part II: one row per line not on the form, then its count and proceeds."""
    if not unknown:
        return
    pdf.group, pdf.unknown_section = None, True
    pages = _pages(unknown)
    for number, page_lines in enumerate(pages, start=1):
        pdf.sheet = (number, len(pages))
        pdf.add_page()
        pdf.set_xy(MARGIN, _BODY_TOP)
        for line in page_lines:
            pdf.row(
                (
                    pdf_text(line.description),
                    _pdf_date(line.date_acquired, UNKNOWN),
                    _pdf_date(line.date_sold),
                    _pdf_maybe(line.proceeds),
                    _pdf_maybe(line.cost),
                    UNKNOWN,
                    pdf_text(line.reason),
                ),
                _UNKNOWN_COLUMNS,
            )
    summary = unknown_basis(unknown)
    unpriced = f", {summary.unpriced} without proceeds" if summary.unpriced else ""
    label = f"Not on the form: {_count(summary.lines, 'line')} ({_count(summary.disposals, 'disposal')}){unpriced}"
    cells = (_pdf_amount(summary.proceeds), UNKNOWN, UNKNOWN, "Not in the totals of Part I or Part II")
    pdf.totals_row(label, cells, _UNKNOWN_COLUMNS)
    pdf.unknown_section = False


# -------------------------------------------------------------------------------------------------------- entry


def write_form_8949(
    lines: Sequence[Form8949Line],
    out_dir: Path,
    *,
    taxpayer: str,
    tax_year: int,
    basename: str | None = None,
    unknown: Sequence[UnknownBasisLine] = (),
    flag: str | None = None,
) -> tuple[Path, Path]:
    """Writes <basename>.csv and <basename>.pdf (basename default f"form8949_{tax_year}") into out_dir (created if
    missing); returns (csv_path, pdf_path).

    `unknown`: the year's disposals whose cost basis (or proceeds) is unknown; they are listed after Part II (in
    the CSV with part "unknown") and every totals line says that it excludes them.

    Raises ValueError for a line sold outside `tax_year` (and TypeError for anything that is not a Form8949Line,
    or an UnknownBasisLine in `unknown`); nothing is written then. With no lines both files are still written:
    the CSV with its header only, the PDF with a page saying there were no dispositions in the year.

    `flag`: a line printed above the title of every page (a tenant without a valid KYC record: kyc_flag)."""
    name = basename if basename is not None else f"form8949_{tax_year}"
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"basename must be a plain file name, not {name!r}")
    groups = _groups(lines, tax_year)
    unknown_lines = _checked_unknown(unknown, tax_year)
    pdf_bytes = _render_pdf(groups, unknown_lines, taxpayer=taxpayer, tax_year=tax_year, flag=flag)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, pdf_path = out / f"{name}.csv", out / f"{name}.pdf"
    _write_csv(csv_path, groups, unknown_lines)
    pdf_path.write_bytes(pdf_bytes)
    return csv_path, pdf_path
