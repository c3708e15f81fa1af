"""Form 8949 writer (pipelines/services/reports/form8949.py): a hand-worked year checked row by row in the CSV and
in the PDF's text, box defaults, rounding, pagination, an empty year, odd characters, and byte-identical reruns;
the disposals of unknown cost basis listed apart and left out of every total, which says so. Then the tax report's
pure parts (pipelines/services/reports/tax.py): the tax year and the printed dates in the tenant's time zone, and
every slice of marts.disposals counted once (on the form, not on it, or an unexplained withdrawal).

The PDF's text is read without a PDF reader (none is installed): fpdf2 writes each text cell as a BT … ET block of
"(…) Tj" strings in a zlib-compressed content stream, in Windows-1252, so inflating the streams and unescaping the
strings is enough."""

from __future__ import annotations

import csv
import math
import re
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.services.reports.form8949 import (
    CSV_COLUMNS,
    ROWS_PER_PAGE,
    Form8949Line,
    UnknownBasis,
    UnknownBasisLine,
    describe,
    exclusion_note,
    to_cents,
    unknown_basis,
    write_form_8949,
)
from pipelines.services.reports.tax import (
    Slice,
    Uncovered,
    holding_term,
    local_date,
    shape_year,
    tax_year_of,
    tax_year_window,
    tax_zone,
)

D = Decimal


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pdf_page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", data))


_TOKEN = re.compile(rb"\(((?:\\.|[^\\)])*)\)|\bBT\b|\bET\b", re.S)


def pdf_text(data: bytes) -> str:
    """The text of each BT … ET block (one cell: fpdf2 may split it into several strings, e.g. around the page
    count alias), one block per line, in page order."""
    shown: list[str] = []
    # The stream's end is found by zlib, not by the line break before `endstream`: compressed bytes may end in
    # b"\r" (about one stream in 256), which a `\r?\nendstream` pattern took as part of the break, so that page's
    # text was lost (a CI run missed the manifest hash this way).
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        inflate = zlib.decompressobj()
        try:
            content = inflate.decompress(match.group(1))
        except zlib.error:
            continue  # not a deflated stream (an image, a font)
        assert inflate.eof, "a content stream cut short"
        block: list[bytes] = []
        for token in _TOKEN.finditer(content):
            if token.group(0) == b"ET":
                if block:
                    shown.append(b"".join(block).decode("cp1252"))
                block = []
            elif token.group(1) is not None:
                block.append(re.sub(rb"\\(.)", rb"\1", token.group(1), flags=re.S))
    return "\n".join(shown)


# A hand-worked 2025: four short-term lines (one in box H, three left to the default box I) and three long-term
# lines (default box L), given out of order to check the grouping.
YEAR = 2025
LINES = [
    Form8949Line("0.5 BTC", date(2025, 1, 10), date(2025, 3, 15), D("42000"), D("30000"), reference="S1"),
    Form8949Line(
        "10 ETH", date(2022, 5, 1), date(2025, 9, 9), D("30000"), D("25000"), "E", D("-45"), "long", reference="L2"
    ),
    # Half-cent amounts: proceeds 5,000.005 → 5,000.01 and cost 6,200.004 → 6,200.00 (half up), so the loss shown
    # is 5,000.01 - 6,200.00 = -1,199.99 (the unrounded gain, -1,199.999, would round to -1,200.00 on its own).
    Form8949Line("2 ETH", date(2025, 2, 1), date(2025, 6, 30), D("5000.005"), D("6200.004"), reference="S2"),
    Form8949Line("1.25 BTC", date(2023, 1, 5), date(2025, 2, 20), D("120000"), D("20000"), term="long", reference="L1"),
    Form8949Line("1 SOL", date(2025, 4, 1), date(2025, 5, 1), D("150"), D("140"), box="H", reference="S4"),
    Form8949Line("100 DOGE", None, date(2025, 8, 1), D("25.50"), D("10.25"), reference="S3"),  # pooled: VARIOUS
    Form8949Line("3 ETH", date(2021, 11, 1), date(2025, 10, 1), D("3000"), D("9000"), term="long", reference="L3"),
]

# By hand:
#   Part I box H  proceeds 150.00                                  cost 140.00                      gain 10.00
#   Part I box I  proceeds 42,000.00 + 5,000.01 + 25.50 = 47,025.51  cost 30,000 + 6,200 + 10.25 = 36,210.25
#                 gain 12,000.00 - 1,199.99 + 15.25 = 10,815.26  (= 47,025.51 - 36,210.25)
#   Part II box L proceeds 30,000 + 120,000 + 3,000 = 153,000.00   cost 25,000 + 20,000 + 9,000 = 54,000.00
#                 adjustment -45.00; gain 4,955.00 + 100,000.00 - 6,000.00 = 98,955.00  (= 153,000 - 54,000 - 45)
EXPECTED_CSV = [
    ["I", "H", "1 SOL", "2025-04-01", "2025-05-01", "150.00", "140.00", "", "0.00", "10.00", "short", "S4"],
    ["I", "H", "TOTAL I box H", "", "", "150.00", "140.00", "", "0.00", "10.00", "short", ""],
    ["I", "I", "0.5 BTC", "2025-01-10", "2025-03-15", "42000.00", "30000.00", "", "0.00", "12000.00", "short", "S1"],
    ["I", "I", "2 ETH", "2025-02-01", "2025-06-30", "5000.01", "6200.00", "", "0.00", "-1199.99", "short", "S2"],
    ["I", "I", "100 DOGE", "VARIOUS", "2025-08-01", "25.50", "10.25", "", "0.00", "15.25", "short", "S3"],
    ["I", "I", "TOTAL I box I", "", "", "47025.51", "36210.25", "", "0.00", "10815.26", "short", ""],
    ["II", "L", "10 ETH", "2022-05-01", "2025-09-09", "30000.00", "25000.00", "E", "-45.00", "4955.00", "long", "L2"],
    ["II", "L", "1.25 BTC", "2023-01-05", "2025-02-20", "120000.00", "20000.00", "", "0.00", "100000.00", "long", "L1"],
    ["II", "L", "3 ETH", "2021-11-01", "2025-10-01", "3000.00", "9000.00", "", "0.00", "-6000.00", "long", "L3"],
    ["II", "L", "TOTAL II box L", "", "", "153000.00", "54000.00", "", "-45.00", "98955.00", "long", ""],
]


def test_csv_rows_and_group_totals(tmp_path: Path) -> None:
    csv_path, pdf_path = write_form_8949(LINES, tmp_path, taxpayer="Jane Q. Public", tax_year=YEAR)
    assert (csv_path, pdf_path) == (tmp_path / "form8949_2025.csv", tmp_path / "form8949_2025.pdf")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[0] == [
        "part", "box", "description", "date_acquired", "date_sold", "proceeds", "cost", "adjustment_code",
        "adjustment", "gain", "term", "reference", "note",
    ]  # fmt: skip
    assert rows[1:] == [[*row, ""] for row in EXPECTED_CSV]  # nothing left out: no note on the totals


def test_each_totals_row_adds_up_from_the_rows_shown(tmp_path: Path) -> None:
    csv_path, _ = write_form_8949(LINES, tmp_path, taxpayer="Jane Q. Public", tax_year=YEAR)
    rows = read_csv(csv_path)
    group: list[dict[str, str]] = []
    for row in rows:
        if row["description"].startswith("TOTAL "):
            for column in ("proceeds", "cost", "adjustment", "gain"):
                assert D(row[column]) == sum((D(r[column]) for r in group), D(0)), (row["description"], column)
            group = []
        else:
            assert D(row["gain"]) == D(row["proceeds"]) - D(row["cost"]) + D(row["adjustment"])
            group.append(row)
    assert group == []


def test_box_defaults() -> None:
    short = Form8949Line("1 BTC", date(2025, 1, 1), date(2025, 2, 1), D(1), D(1))
    long = Form8949Line("1 BTC", date(2020, 1, 1), date(2025, 2, 1), D(1), D(1), term="long")
    assert (short.box, short.resolved_box, short.part) == ("", "I", "I")
    assert (long.box, long.resolved_box, long.part) == ("", "L", "II")
    explicit = Form8949Line("1 BTC", date(2020, 1, 1), date(2025, 2, 1), D(1), D(1), term="long", box="J")
    assert explicit.resolved_box == "J"
    assert [(r[0], r[1]) for r in EXPECTED_CSV if not r[2].startswith("TOTAL")] == [
        ("I", "H"), ("I", "I"), ("I", "I"), ("I", "I"), ("II", "L"), ("II", "L"), ("II", "L"),
    ]  # fmt: skip


def test_gain_property_is_unrounded() -> None:
    line = LINES[2]
    assert line.gain == D("-1199.999")
    assert line.proceeds - line.cost + line.adjustment == line.gain
    assert LINES[1].gain == D("4955")


def test_pdf_has_the_groups_totals_and_various(tmp_path: Path) -> None:
    _, pdf_path = write_form_8949(LINES, tmp_path, taxpayer="Jane Q. Public", tax_year=YEAR)
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    assert pdf_page_count(data) == 3  # one page per (part, box) group: I/H, I/I, II/L
    text = pdf_text(data)
    lines = text.splitlines()
    assert "Form 8949 (2025) — Jane Q. Public" in lines
    assert lines.count("Part I — Short-Term") == 2
    assert lines.count("Part II — Long-Term") == 1
    for box in ("H", "I", "L"):
        assert f"Box {box}" in lines
    assert "checked: Short-term transactions involving digital assets not reported to you on Form 1099-DA" in lines
    assert "checked: Long-term transactions involving digital assets not reported to you on Form 1099-DA" in lines
    for heading in ("(a) Description of property", "(b) Date acquired", "(c) Date sold or", "(d) Proceeds",
                    "(e) Cost or other", "(f) Code(s)", "(g) Amount of", "(h) Gain or (loss)"):  # fmt: skip
        assert lines.count(heading) == 3, heading
    assert "VARIOUS" in lines
    assert "01/10/2025" in lines and "03/15/2025" in lines  # mm/dd/yyyy as on the form
    # Rows: amounts with thousands separators, losses and negative adjustments in parentheses.
    for shown in ("42,000.00", "5,000.01", "6,200.00", "(1,199.99)", "(45.00)", "(6,000.00)", "100,000.00", "E"):
        assert shown in lines, shown
    # Totals lines (hand-computed above), in group order.
    assert "2  Totals, box H (1 transaction)" in lines
    assert "2  Totals, box I (3 transactions)" in lines
    assert "2  Totals, box L (3 transactions)" in lines
    totals = [lines[i + 1 : i + 5] for i, t in enumerate(lines) if t.startswith("2  Totals, box ")]
    assert totals == [
        ["150.00", "140.00", "0.00", "10.00"],
        ["47,025.51", "36,210.25", "0.00", "10,815.26"],
        ["153,000.00", "54,000.00", "(45.00)", "98,955.00"],
    ]
    assert [f"Page {n} of 3" for n in (1, 2, 3)] == [t for t in lines if t.startswith("Page ")]
    assert any("substitute layout of IRS Form 8949" in t for t in lines)
    assert any("reviewed by a tax professional" in t for t in lines)


def test_to_cents_rounds_half_up() -> None:
    assert to_cents(D("0.005")) == D("0.01")  # banker's rounding would give 0.00
    assert to_cents(D("2.675")) == D("2.68")
    assert to_cents(D("-0.005")) == D("-0.01")
    assert to_cents(D("0.0049")) == D("0.00")
    assert str(to_cents(D("-0.004"))) == "0.00"  # never "-0.00"
    assert str(to_cents(D("7"))) == "7.00"


def test_describe_normalises_the_quantity() -> None:
    assert describe(D("0.50000000"), "BTC") == "0.5 BTC"
    assert describe(D("100"), "ETH") == "100 ETH"
    assert describe(D("1E+2"), "ETH") == "100 ETH"
    assert describe(D("0.00000001"), "BTC") == "0.00000001 BTC"
    assert describe(D("1234.5670"), "SOL") == "1234.567 SOL"


def test_300_lines_paginate(tmp_path: Path) -> None:
    lines = [
        Form8949Line(f"{i} XRP", date(2025, 1, 2), date(2025, 6, 1), D(i), D(1), reference=f"D{i}")
        for i in range(1, 301)
    ]
    csv_path, pdf_path = write_form_8949(lines, tmp_path, taxpayer="Many Trades", tax_year=YEAR)
    rows = read_csv(csv_path)
    assert len(rows) == 301
    # Totals: proceeds 1 + … + 300 = 45,150; cost 300; gain 44,850.
    assert rows[-1] == {
        "part": "I", "box": "I", "description": "TOTAL I box I", "date_acquired": "", "date_sold": "",
        "proceeds": "45150.00", "cost": "300.00", "adjustment_code": "", "adjustment": "0.00", "gain": "44850.00",
        "term": "short", "reference": "", "note": "",
    }  # fmt: skip
    data = pdf_path.read_bytes()
    pages = pdf_page_count(data)
    assert pages == math.ceil((300 + 1) / ROWS_PER_PAGE)  # 300 rows + the totals line
    assert pages >= 5
    text = pdf_text(data).splitlines()
    assert text.count("(a) Description of property") == pages  # headings repeated on every page
    assert f"Page {pages} of {pages}" in text
    assert text.count("Part I — Short-Term") == 1
    assert text.count("Part I — Short-Term (continued)") == pages - 1
    assert f"Box I: sheet {pages} of {pages}" in text
    assert text.count("2  Totals, box I (300 transactions)") == 1
    assert "45,150.00" in text and "44,850.00" in text
    assert all(f"{i} XRP" in text for i in range(1, 301))


def test_a_group_never_ends_with_a_page_of_totals_only(tmp_path: Path) -> None:
    lines = [Form8949Line(f"{i} ADA", date(2025, 1, 2), date(2025, 6, 1), D(2), D(1)) for i in range(ROWS_PER_PAGE)]
    _, pdf_path = write_form_8949(lines, tmp_path, taxpayer="T", tax_year=YEAR)
    text = pdf_text(pdf_path.read_bytes()).splitlines()
    assert pdf_page_count(pdf_path.read_bytes()) == 2
    last_page = text[text.index("Page 1 of 2") :]
    assert f"{ROWS_PER_PAGE - 1} ADA" in last_page  # the last row moved over with the totals line
    assert f"2  Totals, box I ({ROWS_PER_PAGE} transactions)" in last_page


def test_empty_year_writes_both_files(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "2024"  # created
    csv_path, pdf_path = write_form_8949([], out, taxpayer="Nobody", tax_year=2024)
    assert csv_path.read_bytes() == (",".join(CSV_COLUMNS) + "\r\n").encode()
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    assert pdf_page_count(data) == 1
    text = pdf_text(data)
    assert "No dispositions of capital assets were recorded for tax year 2024" in text
    assert "Page 1 of 1" in text


def test_identical_inputs_give_identical_bytes(tmp_path: Path) -> None:
    first = write_form_8949(LINES, tmp_path / "a", taxpayer="Jane Q. Public", tax_year=YEAR)
    second = write_form_8949(list(LINES), tmp_path / "b", taxpayer="Jane Q. Public", tax_year=YEAR)
    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() == second[1].read_bytes()  # the PDF's creation date is fixed, so is its /ID
    assert b"/CreationDate (D:20260101000000Z)" in first[1].read_bytes()


def test_basename(tmp_path: Path) -> None:
    csv_path, pdf_path = write_form_8949(LINES, tmp_path, taxpayer="J", tax_year=YEAR, basename="jane_8949")
    assert (csv_path.name, pdf_path.name) == ("jane_8949.csv", "jane_8949.pdf")
    with pytest.raises(ValueError, match="basename"):
        write_form_8949(LINES, tmp_path, taxpayer="J", tax_year=YEAR, basename="../escape")


def test_characters_the_core_fonts_cannot_show_are_replaced(tmp_path: Path) -> None:
    lines = [
        Form8949Line("1 🚀 ROCKET", date(2025, 1, 2), date(2025, 3, 1), D(5), D(1)),
        Form8949Line("Őrség — café\tNFT #1", date(2025, 1, 2), date(2025, 3, 1), D(5), D(1)),
    ]
    csv_path, pdf_path = write_form_8949(lines, tmp_path, taxpayer="山田 太郎 (Tarō)", tax_year=YEAR)
    text = pdf_text(pdf_path.read_bytes()).splitlines()
    assert "Form 8949 (2025) — ?? ?? (Taro)" in text
    assert "1 ? ROCKET" in text
    assert "Orség — café NFT #1" in text  # é is in Windows-1252; Ő loses its accent; the tab becomes a space
    # The CSV keeps the text as given.
    assert [r["description"] for r in read_csv(csv_path)[:2]] == ["1 🚀 ROCKET", "Őrség — café\tNFT #1"]


def test_long_descriptions_are_cut_in_the_pdf_only(tmp_path: Path) -> None:
    description = "1 " + "VERYLONGTOKENNAME" * 10
    lines = [Form8949Line(description, date(2025, 1, 2), date(2025, 3, 1), D(5), D(1))]
    csv_path, pdf_path = write_form_8949(lines, tmp_path, taxpayer="T", tax_year=YEAR)
    assert read_csv(csv_path)[0]["description"] == description
    shown = [t for t in pdf_text(pdf_path.read_bytes()).splitlines() if t.startswith("1 VERYLONG")]
    assert len(shown) == 1 and shown[0].endswith("...") and description.startswith(shown[0][:-3])


def test_csv_cells_that_would_be_formulas_are_defused(tmp_path: Path) -> None:
    lines = [Form8949Line('=HYPERLINK("x")', date(2025, 1, 2), date(2025, 3, 1), D(5), D(1), reference="@ref")]
    csv_path, _ = write_form_8949(lines, tmp_path, taxpayer="T", tax_year=YEAR)
    row = read_csv(csv_path)[0]
    assert (row["description"], row["reference"]) == ('\'=HYPERLINK("x")', "'@ref")


def test_invalid_lines_are_refused(tmp_path: Path) -> None:
    sold = date(2025, 3, 1)
    with pytest.raises(TypeError, match="proceeds"):
        Form8949Line("1 BTC", None, sold, 5.0, D(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cost"):
        Form8949Line("1 BTC", None, sold, D(5), D("NaN"))
    with pytest.raises(ValueError, match="term"):
        Form8949Line("1 BTC", None, sold, D(5), D(1), term="medium")
    with pytest.raises(ValueError, match="box 'L'"):
        Form8949Line("1 BTC", None, sold, D(5), D(1), term="short", box="L")
    with pytest.raises(ValueError, match="box 'A'"):
        Form8949Line("1 BTC", None, sold, D(5), D(1), term="long", box="A")
    with pytest.raises(ValueError, match="after date_sold"):
        Form8949Line("1 BTC", date(2025, 3, 2), sold, D(5), D(1))
    # A line sold in another year: nothing is written.
    other_year = Form8949Line("1 BTC", None, date(2024, 12, 31), D(5), D(1), reference="X9")
    with pytest.raises(ValueError, match=r"X9: sold on 2024-12-31, outside tax year 2025"):
        write_form_8949([*LINES, other_year], tmp_path / "out", taxpayer="T", tax_year=YEAR)
    assert not (tmp_path / "out").exists()


def test_large_amounts_are_shrunk_never_cut(tmp_path: Path) -> None:
    lines = [Form8949Line("1 BTC", date(2025, 1, 2), date(2025, 3, 1), D("9876543210.98"), D("123456789012.34"))]
    csv_path, pdf_path = write_form_8949(lines, tmp_path, taxpayer="T", tax_year=YEAR)
    assert read_csv(csv_path)[0]["gain"] == "-113580245801.36"
    text = pdf_text(pdf_path.read_bytes()).splitlines()
    assert text.count("(113,580,245,801.36)") == 2  # the row and the totals line
    assert "123,456,789,012.34" in text and "9,876,543,210.98" in text


# ── disposals of unknown cost basis ────────────────────────────────────────────────────────────────────────────
# Four lines the form cannot carry: two slices of one disposal (D7) from coins deposited from outside, a sale with
# no price (D8, its cost known), and quantity no lot covered (a disposal of its own).
UNKNOWN = [
    UnknownBasisLine(
        "0.1 ETH",
        None,
        date(2025, 4, 1),
        D("300.005"),
        "unknown basis: deposit of 03/01/2025",
        disposal="D7",
        reference="U1",
    ),
    UnknownBasisLine(
        "0.2 ETH",
        None,
        date(2025, 4, 1),
        D("600.004"),
        "unknown basis: deposit of 03/01/2025",
        disposal="D7",
        reference="U2",
    ),
    UnknownBasisLine(
        "1 SOL",
        date(2025, 1, 5),
        date(2025, 5, 1),
        None,
        "no price on the day of sale",
        cost=D("120"),
        term="short",
        disposal="D8",
        reference="U3",
    ),
    UnknownBasisLine("5 ADA", None, date(2025, 6, 1), D("2.50"), "no lots: purchase history missing", reference="U4"),
]
# By hand: 4 lines, 3 disposals (D7, D8, U4); proceeds shown 300.01 + 600.00 + 2.50 = 902.51; 1 line without.
NOTE = (
    "Totals exclude 4 lines (3 disposals) with unknown cost basis, proceeds 902.51 (and 1 line without "
    'proceeds): listed under "Not on the form" after Part II'
)


def test_unknown_basis_counts_and_note() -> None:
    summary = unknown_basis(UNKNOWN)
    assert summary == UnknownBasis(lines=4, disposals=3, proceeds=D("902.51"), unpriced=1)
    assert exclusion_note(summary) == NOTE
    assert exclusion_note(unknown_basis([])) == ""
    single = unknown_basis(UNKNOWN[3:])
    assert exclusion_note(single).startswith(
        "Totals exclude 1 line (1 disposal) with unknown cost basis, proceeds 2.50"
    )


def test_csv_lists_unknown_basis_apart_and_totals_say_what_they_exclude(tmp_path: Path) -> None:
    csv_path, _ = write_form_8949(LINES, tmp_path, taxpayer="Jane Q. Public", tax_year=YEAR, unknown=UNKNOWN)
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    form = [r for r in rows if r[0] in ("I", "II")]
    # the form's lines and totals are what they were without the unknown lines; each totals row carries the note
    assert [r[:-1] for r in form] == EXPECTED_CSV
    assert [r[-1] for r in form] == [NOTE if r[2].startswith("TOTAL") else "" for r in EXPECTED_CSV]
    assert rows[len(form):] == [
        ["unknown", "", "0.1 ETH", "unknown", "2025-04-01", "300.01", "unknown", "", "", "unknown", "", "U1",
         "unknown basis: deposit of 03/01/2025"],
        ["unknown", "", "0.2 ETH", "unknown", "2025-04-01", "600.00", "unknown", "", "", "unknown", "", "U2",
         "unknown basis: deposit of 03/01/2025"],
        ["unknown", "", "1 SOL", "2025-01-05", "2025-05-01", "unknown", "120.00", "", "", "unknown", "short", "U3",
         "no price on the day of sale"],
        ["unknown", "", "5 ADA", "unknown", "2025-06-01", "2.50", "unknown", "", "", "unknown", "", "U4",
         "no lots: purchase history missing"],
        ["unknown", "", "TOTAL not on the form", "", "", "902.51", "unknown", "", "", "unknown", "", "",
         "4 lines (3 disposals) with unknown cost basis: not in the totals of Part I or Part II"],
    ]  # fmt: skip


def test_pdf_lists_unknown_basis_after_part_ii(tmp_path: Path) -> None:
    _, pdf_path = write_form_8949(LINES, tmp_path, taxpayer="Jane Q. Public", tax_year=YEAR, unknown=UNKNOWN)
    data = pdf_path.read_bytes()
    assert pdf_page_count(data) == 4  # the three boxes, then one page not on the form
    lines = pdf_text(data).splitlines()
    assert lines.count(NOTE) == 3  # under each box's totals line
    for i, text in enumerate(lines):
        if text.startswith("2  Totals, box "):
            assert lines[i + 5] == NOTE, text  # right under the totals line (label and four amounts)
    section = lines[lines.index("Not on the form — cost basis unknown") :]
    assert lines.index("Not on the form — cost basis unknown") > lines.index("2  Totals, box L (3 transactions)")
    assert any(t.startswith("NOT included in the totals of Part I or Part II") for t in section)
    assert "Why it is not on the form" in section
    start = section.index("0.1 ETH")
    assert section[start : start + 7] == [
        "0.1 ETH", "unknown", "04/01/2025", "300.01", "unknown", "unknown", "unknown basis: deposit of 03/01/2025",
    ]  # fmt: skip
    start = section.index("1 SOL")
    assert section[start : start + 7] == [
        "1 SOL", "01/05/2025", "05/01/2025", "unknown", "120.00", "unknown", "no price on the day of sale",
    ]  # fmt: skip
    start = section.index("Not on the form: 4 lines (3 disposals), 1 without proceeds")
    assert section[start + 1 : start + 5] == ["902.51", "unknown", "unknown", "Not in the totals of Part I or Part II"]
    # the form's own totals are unchanged by them
    totals = [lines[i + 1 : i + 5] for i, t in enumerate(lines) if t.startswith("2  Totals, box ")]
    assert totals[2] == ["153,000.00", "54,000.00", "(45.00)", "98,955.00"]


def test_the_note_under_the_totals_takes_a_slot_of_its_own(tmp_path: Path) -> None:
    """ROWS_PER_PAGE - 1 rows and the totals line fill one page; the note needs one more slot, so the last row
    moves over with the totals line and the note."""
    lines = [Form8949Line(f"{i} ADA", date(2025, 1, 2), date(2025, 6, 1), D(2), D(1)) for i in range(ROWS_PER_PAGE - 1)]
    _, alone = write_form_8949(lines, tmp_path / "a", taxpayer="T", tax_year=YEAR)
    assert pdf_page_count(alone.read_bytes()) == 1
    _, pdf_path = write_form_8949(lines, tmp_path / "b", taxpayer="T", tax_year=YEAR, unknown=UNKNOWN[3:])
    text = pdf_text(pdf_path.read_bytes()).splitlines()
    assert pdf_page_count(pdf_path.read_bytes()) == 3  # 2 pages of box I, 1 not on the form
    second = text[text.index("Page 1 of 3") : text.index("Page 2 of 3")]
    assert f"{ROWS_PER_PAGE - 2} ADA" in second and f"{ROWS_PER_PAGE - 3} ADA" not in second
    assert f"2  Totals, box I ({ROWS_PER_PAGE - 1} transactions)" in second
    assert any(t.startswith("Totals exclude 1 line (1 disposal)") for t in second)


def test_a_year_of_unknown_basis_only(tmp_path: Path) -> None:
    csv_path, pdf_path = write_form_8949([], tmp_path, taxpayer="T", tax_year=YEAR, unknown=UNKNOWN[3:])
    assert [r["part"] for r in read_csv(csv_path)] == ["unknown", "unknown"]
    text = pdf_text(pdf_path.read_bytes())
    assert "No dispositions of capital assets with a known cost basis were recorded for tax year 2025" in text
    assert "Not on the form: 1 line (1 disposal)" in text


def test_invalid_unknown_basis_lines_are_refused(tmp_path: Path) -> None:
    sold = date(2025, 3, 1)
    with pytest.raises(TypeError, match="proceeds"):
        UnknownBasisLine("1 BTC", None, sold, 5.0, "why")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both proceeds and cost are known"):
        UnknownBasisLine("1 BTC", None, sold, D(5), "why", cost=D(1))
    with pytest.raises(ValueError, match="term"):
        UnknownBasisLine("1 BTC", None, sold, D(5), "why", term="medium")
    with pytest.raises(ValueError, match="after date_sold"):
        UnknownBasisLine("1 BTC", date(2025, 3, 2), sold, D(5), "why")
    other_year = UnknownBasisLine("1 BTC", None, date(2026, 1, 1), D(5), "why", reference="U9")
    with pytest.raises(ValueError, match=r"U9: sold on 2026-01-01, outside tax year 2025"):
        write_form_8949(LINES, tmp_path / "out", taxpayer="T", tax_year=YEAR, unknown=[other_year])
    with pytest.raises(TypeError, match="expected UnknownBasisLine"):
        write_form_8949(LINES, tmp_path / "out", taxpayer="T", tax_year=YEAR, unknown=[LINES[0]])  # type: ignore[list-item]
    assert not (tmp_path / "out").exists()


# ── the tax year in the tenant's time zone (tax.py) ────────────────────────────────────────────────────────────
NEW_YORK = tax_zone("America/New_York")


def test_a_new_york_new_years_eve_sale_is_in_the_old_year() -> None:
    sold = datetime(2026, 1, 1, 4, 30, tzinfo=UTC)  # 2025-12-31 23:30 in New York (EST, UTC-5)
    assert tax_year_of(sold, NEW_YORK) == 2025
    assert local_date(sold, NEW_YORK) == date(2025, 12, 31)
    assert tax_year_of(sold, tax_zone("UTC")) == 2026
    start, end = tax_year_window(2025, NEW_YORK)
    assert (start, end) == (datetime(2025, 1, 1, 5, tzinfo=UTC), datetime(2026, 1, 1, 5, tzinfo=UTC))
    assert start <= sold < end
    start, end = tax_year_window(2026, NEW_YORK)
    assert not start <= sold < end
    # east of UTC the year starts the day before in UTC: 1 January 00:00 in Auckland (NZDT, UTC+13)
    assert tax_year_window(2025, tax_zone("Pacific/Auckland"))[0] == datetime(2024, 12, 31, 11, tzinfo=UTC)
    assert tax_year_of(datetime(2024, 12, 31, 12, tzinfo=UTC), tax_zone("Pacific/Auckland")) == 2025
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2025, 1, 1), NEW_YORK)


def test_tax_zone_names() -> None:
    assert tax_zone("america/new_york") == NEW_YORK  # PostgreSQL accepts any case: so does the report
    with pytest.raises(LookupError, match="unknown time zone 'Mars/Olympus'"):
        tax_zone("Mars/Olympus")


def test_holding_term() -> None:
    assert holding_term(date(2024, 3, 1), date(2025, 3, 1)) == "short"  # one year exactly: not more than one
    assert holding_term(date(2024, 3, 1), date(2025, 3, 2)) == "long"
    assert holding_term(date(2024, 2, 29), date(2025, 2, 28)) == "short"  # its anniversary is 28 February
    assert holding_term(date(2024, 2, 29), date(2025, 3, 1)) == "long"


def _slice(
    no: int,
    disposed: datetime,
    acquired: datetime | None,
    proceeds: str | None,
    cost: str | None,
    treatment: str = "realized",
    basis_known: bool = True,
) -> Slice:
    return Slice(
        "BTC",
        D("0.5"),
        acquired,
        disposed,
        None if proceeds is None else D(proceeds),
        None if cost is None else D(cost),
        "short",
        treatment,
        basis_known,
        "fifo",
        f"E{no}",
        1,
        f"L{no}",
        "acct",
    )


def test_each_slice_is_counted_once_with_new_york_dates() -> None:
    eve = datetime(2026, 1, 1, 4, 30, tzinfo=UTC)  # 12/31/2025 23:30 in New York
    slices = [
        _slice(1, eve, datetime(2025, 3, 1, 15, tzinfo=UTC), "100", "60"),
        # bought 12/31/2024 22:00 in New York (01/01/2025 03:00 UTC), sold 01/01/2026 07:00 there: in New York
        # more than a year (long); by UTC dates exactly one (the marts' "short")
        _slice(2, datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2025, 1, 1, 3, tzinfo=UTC), "50", "40"),
        # coins deposited from outside on 05/31/2025 22:10 New York time: no basis, no acquisition date
        _slice(
            3,
            datetime(2025, 7, 1, 12, tzinfo=UTC),
            datetime(2025, 6, 1, 2, 10, tzinfo=UTC),
            "75",
            None,
            basis_known=False,
        ),
        _slice(4, datetime(2025, 8, 1, 12, tzinfo=UTC), datetime(2025, 2, 1, 12, tzinfo=UTC), None, "10"),  # no price
        _slice(
            5,
            datetime(2025, 9, 1, 12, tzinfo=UTC),
            datetime(2025, 2, 1, 12, tzinfo=UTC),
            None,
            None,
            treatment="removed",
        ),  # an unexplained withdrawal: not a sale
    ]
    uncovered = [Uncovered("ADA", D("5"), datetime(2025, 7, 15, 3, tzinfo=UTC), D("2.5"), "E6", "acct")]
    year = shape_year(slices, uncovered, NEW_YORK)
    assert len(year.lines) + len(year.unknown) + year.removed == len(slices) + len(uncovered)
    assert year.removed == 1
    eve_line, term_line = year.lines
    assert (eve_line.date_acquired, eve_line.date_sold) == (date(2025, 3, 1), date(2025, 12, 31))
    assert eve_line.term == "short"
    assert eve_line.reference == "acct: E1/1 lot L1"
    assert (term_line.date_acquired, term_line.date_sold, term_line.term) == (
        date(2024, 12, 31),
        date(2026, 1, 1),
        "long",
    )
    deposit, uncovered_line, unpriced = year.unknown  # in the order sold
    assert (deposit.date_acquired, deposit.proceeds, deposit.cost, deposit.reason) == (
        None,
        D("75"),
        None,
        "unknown basis: deposit of 05/31/2025",
    )
    assert (uncovered_line.date_sold, uncovered_line.proceeds, uncovered_line.disposal) == (
        date(2025, 7, 14),
        D("2.5"),
        "E6",
    )
    assert (unpriced.date_acquired, unpriced.proceeds, unpriced.cost, unpriced.term) == (
        date(2025, 2, 1),
        None,
        D("10"),
        "short",
    )


def test_pdf_text_reads_a_page_whose_compressed_stream_ends_in_a_carriage_return() -> None:
    """About one content stream in 256 ends in b"\\r"; the page's text must still be read (a CI run lost the
    compliance pack's last page, and the manifest hash on it, to a pattern that took that byte as a line break)."""
    import hashlib

    from fpdf import FPDF

    for n in range(5000):
        pdf = FPDF(unit="pt")
        pdf.add_page()
        pdf.set_font("Courier", "B", 9)
        text = hashlib.sha256(str(n).encode()).hexdigest()
        pdf.cell(380, 16, text)
        data = bytes(pdf.output())
        streams = [m.group(1) for m in re.finditer(rb"stream\n(.*?)\nendstream", data, re.S)]
        if any(s.endswith(b"\r") and text.encode() in zlib.decompress(s) for s in streams):
            break
    else:
        pytest.fail("no stream ending in \\r among 5,000 pages")
    assert pdf_text(data).splitlines() == [text]
