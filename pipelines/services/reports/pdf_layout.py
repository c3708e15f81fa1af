"""What the reports' PDFs share (Form 8949, the compliance pack): the page (landscape US Letter, in points), text the
PDF core fonts can show, amounts in cents with negatives in parentheses, and an FPDF base whose table cell fits its
text — text cut with "...", a number set smaller instead (never shown in part). Pure: no database, no clock."""

from __future__ import annotations

import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from fpdf import FPDF

Align = Literal["L", "C", "R"]

# Landscape US Letter in points (1/72 in).
PAGE_W, PAGE_H = 792.0, 612.0
MARGIN = 36.0
USABLE_W = PAGE_W - 2 * MARGIN
CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """`amount` rounded to cents, half up (0.005 → 0.01, -0.005 → -0.01); never "-0.00"."""
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else Decimal("0.00")


def money(value: Decimal | None) -> str:
    """Cents, thousands separated, negatives in parentheses: -1234.5 → "(1,234.50)"; "" for None."""
    if value is None:
        return ""
    cents = to_cents(Decimal(value))
    text = f"{abs(cents):,.2f}"
    return f"({text})" if cents < 0 else text


def pdf_text(text: str) -> str:
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


class ReportPdf(FPDF):
    """A landscape Letter page in points, core fonts in Windows-1252, no automatic page break (each report places
    its own rows and pages)."""

    def __init__(self) -> None:
        super().__init__(orientation="landscape", unit="pt", format="letter")
        self.core_fonts_encoding = "windows-1252"  # the core fonts are declared /WinAnsiEncoding
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(False)

    def fit(self, text: str, width: float) -> str:
        """`text` cut with "..." so that it fits in a cell of `width` (cell padding included)."""
        room = width - 2 * self.c_margin
        if self.get_string_width(text) <= room:
            return text
        while text and self.get_string_width(text + "...") > room:
            text = text[:-1]
        return text + "..."

    def fitted_cell(self, width: float, height: float, text: str, align: Align, *, size: float, min_size: float,
                    cut: bool, bold: bool = False, fill: bool = False) -> None:
        """A bordered table cell at the current position: text that does not fit is cut with "..." when `cut`;
        otherwise (amounts, dates, codes) its font shrinks, down to `min_size`, so that it shows whole."""
        self.set_font("Helvetica", "B" if bold else "", size)
        if cut:
            text = self.fit(text, width)
        else:
            while size > min_size and self.get_string_width(text) > width - 2 * self.c_margin:
                size -= 0.5
                self.set_font_size(size)
        self.cell(width, height, text, border=1, align=align, fill=fill)
