"""Files as they arrive (issue 15): the pure sniffing and normalising of sources/files/dialect.py — each ambiguous
notation refuses, each explicit option resolves it — and every export fixture re-saved as Excel and LibreOffice
write it (tests/resave.py: ';' and decimal commas, grouping, locale dates, UTF-8 BOM, UTF-16 with tabs, CRLF,
footers) read back to exactly the records of the original file."""

from __future__ import annotations

import codecs
import re
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.services.imports import _identity
from pipelines.sources.files import FORMATS, FileRefused, ParseResult, UnknownFormat, detect_format, parse_export
from pipelines.sources.files.detect import EXPECTED
from pipelines.sources.files.dialect import (
    DialectRefused,
    EncodingRefused,
    Native,
    ReadOptions,
    date_cell,
    date_format_named,
    decode,
    delimiter_named,
    encoding_of,
    footer_start,
    normalise_date,
    normalise_number,
    number_evidence,
    sniff,
    whole_lines,
)
from pipelines.sources.files.records import FOOTER_REASON
from tests.resave import VARIANTS, Resave

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"
D = Decimal
NBSP = "\u00a0"


def load(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


# ── numbers ──────────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(("cell", "evidence", "as_point", "as_comma"), [
    ("0,5", "comma", None, "0.5"),
    ("1234,5", "comma", None, "1234.5"),
    ("57.000,00", "comma", None, "57000.00"),
    ("1.234.567", "comma", None, "1234567"),
    (f"57{NBSP}000,00", "comma", None, "57000.00"),  # fr-FR: a no-break space groups
    ("62.000,00 $", "comma", None, "$62000.00"),  # a currency cell in de-DE
    ("-1,50 $", "comma", None, "-$1.50"),
    ("1,5E-06", "comma", None, "1.5E-06"),
    ("0.5", "point", "0.5", None),
    ("62000.01", "point", "62000.01", None),
    ("57,000.00", "point", "57000.00", None),
    ("1,234,567", "point", "1234567", None),
    ("57'000.25", "point", "57000.25", None),  # de-CH
    ("-$1,000.00", "point", "-$1000.00", None),
    ("0.123", "point", "0.123", None),  # a leading zero never starts a group of thousands
    ("1234.567", "point", "1234.567", None),  # nor do four digits
    ("1,234", "ambiguous", "1234", "1.234"),
    ("1.234", "ambiguous", "1.234", "1234"),
    ("123.456", "ambiguous", "123.456", "123456"),
    ("5000", "none", "5000", "5000"),
    ("0055", "none", "0055", "0055"),  # digits are kept as written (an id stays an id)
    ("1E-06", "none", "1E-06", "1E-06"),
    ("1 000", None, None, None),  # a plain space is no spreadsheet's grouping
    ("1,2,3", None, None, None),
    ("12..3", None, None, None),
    ("0.01500000BTC", None, None, None),  # text: left to the format's parser
    ("15.03.2024", None, None, None),
    ("abc", None, None, None),
    # accounting negatives, as a spreadsheet's number format shows them
    ("(1,240.00)", "point", "-1240.00", None),
    ("(1.240,00)", "comma", None, "-1240.00"),
    ("($1,240.00)", "point", "-$1240.00", None),
    ("(-5)", None, None, None),  # a sign inside the brackets: not a notation anyone writes
    ("()", None, None, None),
])
def test_number_cells(cell: str, evidence: str | None, as_point: str | None, as_comma: str | None) -> None:
    assert number_evidence(cell) == evidence
    assert normalise_number(cell, decimal_comma=False) == as_point
    assert normalise_number(cell, decimal_comma=True) == as_comma


def dialect_of(rows: list[list[str]], options: ReadOptions | None = None, *, venue: bool = True,
               native: Native | None = None) -> object:
    names = tuple(f"c{i}" for i in range(max(len(r) for r in rows)))
    return sniff(list(enumerate(rows, start=2)), names, ";", options or ReadOptions(), venue_format=venue,
                 native=native)


def test_a_number_that_reads_two_ways_refuses_until_the_option_says() -> None:
    rows = [["1,234", "5"], ["2", "7"]]
    with pytest.raises(DialectRefused, match=r"'1,234' \(line 2, c0\) can be read two ways.*--decimal-comma or "
                                             r"--decimal-point"):
        dialect_of(rows)
    assert dialect_of(rows, ReadOptions(decimal_comma=True)).decimal_comma is True  # type: ignore[attr-defined]
    assert dialect_of(rows, ReadOptions(decimal_comma=False)).decimal_comma is False  # type: ignore[attr-defined]
    # another cell that only one notation fits decides for the whole file
    assert dialect_of([*rows, ["0,25", "1"]]).decimal_comma is True  # type: ignore[attr-defined]
    assert dialect_of([*rows, ["0.25", "1"]]).decimal_comma is False  # type: ignore[attr-defined]
    with pytest.raises(DialectRefused, match="can be read two ways"):
        dialect_of([["1.234"]])


def test_mixed_or_contradicted_decimal_marks_refuse() -> None:
    with pytest.raises(DialectRefused, match=r"mix decimal marks: '0.5' \(line 2, c0\) has a decimal point, "
                                             r"'0,5' \(line 3, c0\) a decimal comma"):
        dialect_of([["0.5"], ["0,5"], ["1.5"]])
    with pytest.raises(DialectRefused, match="--decimal-comma was given, but the numbers are written with a "
                                             "decimal point"):
        dialect_of([["0.5"], ["2.5"]], ReadOptions(decimal_comma=True))
    # one stray cell among many is not a re-save: the file stays as written and the parser judges that cell
    many = [[f"{n}.5"] for n in range(40)] + [["12,5"]]
    assert dialect_of(many).decimal_comma is None  # type: ignore[attr-defined]


def test_a_file_in_the_venues_own_notation_is_left_as_written() -> None:
    # decimal points without grouping: nothing to read back (a stray '57,000.00' is the parser's to reject)
    plain = [[f"{n}.25", "7"] for n in range(30)] + [["57,000.00", "1"]]
    assert dialect_of(plain).decimal_comma is None  # type: ignore[attr-defined]
    grouped = [[f"{n},000.25"] for n in range(1, 5)]
    assert dialect_of(grouped).decimal_comma is False  # type: ignore[attr-defined]


# ── dates ────────────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(("cell", "evidence", "seconds", "as_dmy", "as_mdy"), [
    ("15.03.2024 14:22:07", "DMY", True, "2024-03-15 14:22:07", None),
    ("01.03.2024 10:00:00", "DMY", True, "2024-03-01 10:00:00", "2024-01-03 10:00:00"),  # dots: day first
    ("15/03/2024 14:22:07", "DMY", True, "2024-03-15 14:22:07", None),
    ("3/15/2024 2:22:07 PM", "MDY", True, None, "2024-03-15 14:22:07"),
    ("3/15/2024 12:05:00 AM", "MDY", True, None, "2024-03-15 00:05:00"),
    ("3/1/2024 10:00", "ambiguous", False, "2024-01-03 10:00", "2024-03-01 10:00"),
    ("12/12/2024 00:00:00", "none", True, "2024-12-12 00:00:00", "2024-12-12 00:00:00"),
    ("2024/03/15 14:22:07", "YMD", True, "2024-03-15 14:22:07", "2024-03-15 14:22:07"),  # ja-JP, zh-CN
    ("01.03.2024 10:00:00,1234", "DMY", True, "2024-03-01 10:00:00.1234", "2024-01-03 10:00:00.1234"),
    ("3/15/24 10:00", "MDY", False, None, None),  # Excel for Mac: two-digit year, never read back
])
def test_date_cells(cell: str, evidence: str, seconds: bool, as_dmy: str | None, as_mdy: str | None) -> None:
    found = date_cell(cell)
    assert found is not None and (found.evidence, found.seconds) == (evidence, seconds)
    assert normalise_date(cell, "DMY") == as_dmy
    assert normalise_date(cell, "MDY") == as_mdy


def test_iso_and_other_cells_are_not_spreadsheet_dates() -> None:
    for cell in ("2024-03-15 14:22:07", "2024-03-15T14:22:07Z", "0.5", "10:00", "1.234", "yesterday"):
        assert date_cell(cell) is None
    assert normalise_date("15-Mar-2024 14:22:07", "%d-%b-%Y %H:%M:%S") == "2024-03-15 14:22:07"
    assert normalise_date("2024-03-15 14:22:07", "%d-%b-%Y %H:%M:%S") is None


def test_a_date_that_reads_two_ways_refuses_until_the_option_says() -> None:
    rows = [["3/1/2024 10:00:00", "1"], ["4/2/2024 11:00:00", "2"]]
    with pytest.raises(DialectRefused, match=r"dates like '3/1/2024 10:00:00' \(line 2, c0\) can be day first or "
                                             r"month first.*--date-format DMY or MDY"):
        dialect_of(rows)
    assert dialect_of(rows, ReadOptions(date_format="dmy")).date_format == "DMY"  # type: ignore[attr-defined]
    assert dialect_of(rows, ReadOptions(date_format="MDY")).date_format == "MDY"  # type: ignore[attr-defined]
    pattern = "%m/%d/%Y %H:%M:%S"
    assert dialect_of(rows, ReadOptions(date_format=pattern)).date_format == pattern  # type: ignore[attr-defined]
    # another row whose day is over 12 tells
    assert dialect_of([*rows, ["3/13/2024 10:00:00", "3"]]).date_format == "MDY"  # type: ignore[attr-defined]
    assert dialect_of([*rows, ["13/3/2024 10:00:00", "3"]]).date_format == "DMY"  # type: ignore[attr-defined]


def test_mixed_contradicted_or_lossy_dates_refuse() -> None:
    with pytest.raises(DialectRefused, match=r"mix orders: '13/3/2024 10:00:00' .* day first, '3/13/2024 10:00:00' "
                                             r".* month first"):
        dialect_of([["13/3/2024 10:00:00"], ["3/13/2024 10:00:00"]])
    with pytest.raises(DialectRefused, match=r"--date-format MDY was given, but '13/3/2024 10:00:00' .* can only "
                                             r"be DMY"):
        dialect_of([["13/3/2024 10:00:00"]], ReadOptions(date_format="MDY"))
    lossy = [["15.03.2024 14:22"], ["16.03.2024 09:01"]]  # Excel's default h:mm: the seconds are gone
    with pytest.raises(DialectRefused, match=r"lost their seconds: '15.03.2024 14:22' \(line 2, c0\)"):
        dialect_of(lossy)
    with pytest.raises(DialectRefused, match="has no %S"):
        dialect_of([["15.03.2024 14:22:07"]], ReadOptions(date_format="%d.%m.%Y %H:%M"))
    # the generic template is the user's own file: minutes are what they wrote
    assert dialect_of(lossy, venue=False).date_format == "DMY"  # type: ignore[attr-defined]
    with pytest.raises(DialectRefused, match="two-digit year"):
        dialect_of([["3/15/24 10:00:00"]], venue=False)
    assert dialect_of([["3/15/24 10:00:00"]], ReadOptions(date_format="%m/%d/%y %H:%M:%S"),
                      venue=False).date_format == "%m/%d/%y %H:%M:%S"  # type: ignore[attr-defined]
    # one stray date among the venue's own timestamps does not decide how the file is read
    native = [[f"2024-03-{d:02d} 10:00:00"] for d in range(1, 29)] + [["01.03.2024 10:00"]]
    assert dialect_of(native).date_format is None  # type: ignore[attr-defined]


def test_a_venues_own_notation_is_neither_evidence_nor_read_back() -> None:
    """Binance writes '21-01-24 22:24:15' (2021-01-24, year first) and Coinbase Pro '2.7535e-7': the venues'
    notation, read by their parsers, not a spreadsheet's two-digit year or a decimal point among decimal commas."""
    binance = Native(dates=re.compile(r"\d{2}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"))
    native_years = [["21-01-24 22:24:15", "-50"], ["21-01-25 10:00:00", "1"]]
    with pytest.raises(DialectRefused, match="two-digit year"):  # as a spreadsheet's: '21-01-24' day first
        dialect_of(native_years)
    assert dialect_of(native_years, native=binance).date_format is None  # type: ignore[attr-defined]
    # beside re-formatted dates, the venue's own cells are left as they are; the others are read back
    resaved = [["01.02.2024 09:12:44", "2500"], ["24-02-03 14:00:00", "0,045"]]
    dialect = dialect_of(resaved, native=binance)
    assert dialect.normalise(resaved[1]) == ["24-02-03 14:00:00", "0.045"]  # type: ignore[attr-defined]
    assert dialect.normalise(resaved[0]) == ["2024-02-01 09:12:44", "2500"]  # type: ignore[attr-defined]
    # only the venue's exact notation: a spreadsheet's two-digit year, or one without seconds, is still refused
    for cell in ("3/15/24 10:00:00", "24-03-01 10:00"):
        with pytest.raises(DialectRefused, match="two-digit year"):
            dialect_of([[cell]], native=binance)
    # a pattern the user gives says how the dates are written, the venue's too
    pattern = "%d-%m-%y %H:%M:%S"
    told = dialect_of(native_years, ReadOptions(date_format=pattern), native=binance)
    assert told.normalise(["21-01-24 22:24:15"]) == ["2024-01-21 22:24:15"]  # type: ignore[attr-defined]

    coinbase_pro = Native(scientific=True)
    fills = [["0,001", "0,05507", "2.7535e-7"], ["20413,54", "1,002", "2,045436708"]]
    with pytest.raises(DialectRefused, match=r"mix decimal marks: '2.7535e-7'"):
        dialect_of(fills)
    dialect = dialect_of(fills, native=coinbase_pro)
    assert dialect.decimal_comma is True  # type: ignore[attr-defined]
    assert dialect.normalise(fills[0]) == ["0.001", "0.05507", "2.7535e-7"]  # type: ignore[attr-defined]
    assert dialect.normalise(["1.234e-7"]) == ["1.234e-7"]  # type: ignore[attr-defined]  # not '1234e-7'
    # what a spreadsheet writes ('2,7535E-07' in de-DE, '2.7535E-07' in en-US) is the spreadsheet's notation
    assert dialect_of([["0,5"], ["2,7535E-07"]], native=coinbase_pro).normalise(  # type: ignore[attr-defined]
        ["2,7535E-07"]) == ["2.7535E-07"]
    with pytest.raises(DialectRefused, match=r"mix decimal marks: '2.7535E-07'"):
        dialect_of([["0,5"], ["1,5"], ["2.7535E-07"]], native=coinbase_pro)


def test_option_values() -> None:
    assert [delimiter_named(v) for v in (";", "semicolon", "tab", "\\t", "\t", ",", "comma", "|", "pipe")] == [
        ";", ";", "\t", "\t", "\t", ",", ",", "|", "|"]
    with pytest.raises(ValueError, match="unknown delimiter ':'"):
        delimiter_named(":")
    assert date_format_named("dmy") == "DMY"
    with pytest.raises(ValueError, match="unknown date format 'dd/mm/yyyy'"):
        date_format_named("dd/mm/yyyy")
    with pytest.raises(ValueError, match="unknown delimiter"):
        ReadOptions(delimiter="x")


# ── encodings and footers ────────────────────────────────────────────────────────────────────────────────
def test_encodings() -> None:
    text = "Date(UTC);Pair\r\n15.03.2024;BTCUSDT\r\n"
    assert decode(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == text
    assert decode(codecs.BOM_UTF16_BE + text.encode("utf-16-be")) == text
    assert decode(text.encode("utf-16-le")) == text  # no BOM: the NUL bytes tell
    assert decode(codecs.BOM_UTF8 + text.encode()) == text
    assert decode(text.encode()) == text
    assert encoding_of(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == ("utf-16-le", 2)
    assert decode(b"caf\xe9;1\n") == "caf\u00e9;1\n"  # not UTF-8 but Windows-1252 (Excel's CSV on Windows)
    assert encoding_of(b"caf\xe9 \x80 \xb5;1\n") == ("cp1252", 0)
    assert encoding_of("café".encode()) == ("utf-8", 0)  # valid UTF-8 stays UTF-8
    with pytest.raises(EncodingRefused, match=r"not UTF-8 \(byte 0xE9 at offset 3\) and not Windows-1252 either "
                                              r"\(byte 0x81 at offset 5\)"):
        encoding_of(b"caf\xe9 \x81;1\n")  # 0x81 is unassigned in cp1252: neither, so the user must say
    assert decode(b"caf\xe9 \x81;1\n", "latin-1") == "caf\u00e9 \x81;1\n"  # --encoding settles it


def test_the_head_of_a_utf16_file_is_cut_after_a_whole_line() -> None:
    data = codecs.BOM_UTF16_LE + "".join(f"line {n}\r\n" for n in range(100)).encode("utf-16-le")
    for limit in range(50, 400, 7):
        head = whole_lines(data, limit)
        assert len(head) <= limit and len(head) % 2 == 0
        assert decode(head).endswith("\r\n") and "\ufffd" not in decode(head)


def test_footer_start() -> None:
    width = 3
    data = [(2, ["a", "1", "x"]), (3, ["b", "2", "y"])]
    assert footer_start(data, width) is None
    assert footer_start([*data, (4, ["Total", "3", ""])], width) == 4  # a total line, right after the data
    assert footer_start([*data, (4, ["", "Summe", "3"])], width) == 4
    assert footer_start([*data, (4, None), (5, ["Exported 2024-03-20"]), (6, ["by Jane"])], width) == 5
    # a short line right after the data is a broken row (rejected by the parser), not a footer
    assert footer_start([*data, (4, ["c", "3"])], width) is None
    assert footer_start([*data, (4, ["c", "3"]), (5, None), (6, ["note"])], width) == 6
    # a full-width line after the notes: the data goes on, there is no footer
    assert footer_start([*data, (4, None), (5, ["note"]), (6, ["d", "4", "z"])], width) is None
    assert footer_start([*data, (4, None), *[(n, ["note"]) for n in range(5, 20)]], width) is None  # too long


# ── whole files ──────────────────────────────────────────────────────────────────────────────────────────
def identities(result: ParseResult) -> list[str]:
    return sorted(str(_identity(record)) for record in result.records)


FIXTURE_FILES = sorted(path.name for path in FIXTURES.glob("*.csv"))
# Variants whose only re-formatted dates are day ≤ 12 (the generic template's and Ledger Live's one naive
# timestamp, a row rejected either way for having no zone; Binance's deposit history, whose two dates are the 1st
# and 5th of February — a deposit history is a few lines, and a real one may well hold no day over 12): refused as
# ambiguous until --date-format says. (Trade histories, HTX's and Kraken's, span weeks: their fixtures hold a day
# over 12, as real files do, and are read without the option.)
NEEDS_DATE_FORMAT = {("generic.csv", "excel-us-csv-utf8"): "MDY", ("generic.csv", "excel-fr-unicode-text"): "DMY",
                     ("ledger_live.csv", "excel-us-csv-utf8"): "MDY",
                     ("ledger_live.csv", "excel-fr-unicode-text"): "DMY",
                     ("binance_deposits.csv", "excel-us-csv-utf8"): "MDY",
                     ("binance_deposits.csv", "excel-fr-unicode-text"): "DMY"}
# The zone a fixture's naive times are read in (HTX writes none, and without one every line is rejected).
TIMEZONE = {"htx_trades.csv": "Asia/Singapore",
            # the newer Binance statement: its zone is in its name, which a re-saved copy may not keep (UTC+7)
            "Binance-Transaction-History-202410021135(UTC+7).csv": "Asia/Bangkok"}
# Kraken line 21 holds '12,5': a decimal comma in a decimal-point file, rejected there. In a file re-saved with
# decimal commas it is an ordinary number, and a deposit of 12.5 USD.
BECOMES_VALID = {"kraken_ledgers.csv": 21}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_export_resaved_reads_back_to_the_same_records(name: str, variant: Resave) -> None:
    text = load(name)
    zone = TIMEZONE.get(name)
    original = parse_export(text, default_timezone=zone)
    assert original.records and original.refused is None
    data = variant.bytes(text)
    order = NEEDS_DATE_FORMAT.get((name, variant.name))
    if order:
        with pytest.raises(FileRefused, match="can be day first or month first"):
            parse_export(data, default_timezone=zone)
    result = parse_export(data, default_timezone=zone, reading=ReadOptions(date_format=order))
    assert result.format == original.format == detect_format(data)
    expected = identities(original)
    rejected = {r.line: r.reason for r in original.rejected}
    if name in BECOMES_VALID and variant.decimal == ",":
        line = BECOMES_VALID[name]
        assert "'12,5' is not a number" in rejected.pop(line)
        [extra] = [r for r in result.records if r.lines == (line,)]
        assert (extra.record_type, extra.asset, extra.amount) == ("deposit", "USD", D("12.5"))
        expected = sorted([*expected, str(_identity(extra))])
    assert identities(result) == expected
    assert sorted(rejected) == sorted(r.line for r in result.rejected)
    for record in result.records:  # exact Decimals, never through float
        for value in (record.quantity, record.price, record.cost, record.amount, record.fee_amount):
            assert value is None or type(value) is Decimal
    footer = [line for line, reason in result.ignored if reason == FOOTER_REASON]
    assert len(footer) == len([line for line in variant.footer if line])
    assert result.data_lines == original.data_lines + len(footer)
    assert result.layout is not None and (variant.decimal == ",") == ("decimal comma" in result.layout)


def test_the_payload_keeps_the_cells_as_written() -> None:
    excel_de = VARIANTS[0]
    result = parse_export(excel_de.bytes(load("binance_trades.csv")))
    first = next(r for r in result.records if r.payload["Date(UTC)"] == "01.03.2024 10:00:00")
    assert first.payload["Price"] == "62000,01" and first.price == D("62000.01")
    assert result.layout == "semicolon-delimited, decimal comma, dates DMY"


def test_excel_default_dates_without_seconds_are_refused_for_a_venue_export() -> None:
    excel_default = Resave("excel-de-default", ";", ",", "", "%d.%m.%Y %H:%M", "{sign}{number} $", "cp1252")
    with pytest.raises(FileRefused, match=r"read as binance_trades \(header on line 1, semicolon-delimited\), but "
                                          r"the times were re-formatted by a spreadsheet and lost their seconds: "
                                          r"'15.03.2024 14:22' \(line 2, Date\(UTC\)\)"):
        parse_export(excel_default.bytes(load("binance_trades.csv")))


# ── what an unknown file is told ─────────────────────────────────────────────────────────────────────────
def test_an_unknown_file_says_what_was_found_and_how_it_differs_from_the_nearest_format() -> None:
    renamed = load("binance_trades.csv").replace("Date(UTC),Pair,Side", "Datum,Pair,Seite").replace(",", ";")
    with pytest.raises(UnknownFormat) as info:
        parse_export(renamed)
    message = str(info.value)
    assert "Nearest: line 1, read semicolon-delimited ('Datum', 'Pair', 'Seite', 'Price', 'Executed', 'Amount', " \
           "'Fee'), has 5 of the 7 columns a binance_trades header needs; missing: 'date(utc)', 'side'" in message
    kraken = load("kraken_ledgers.csv").replace('"refid"', '"reference"').replace('"txid"', '"tx_id"')
    with pytest.raises(UnknownFormat, match=r"5 of the 7 columns a kraken_ledgers header needs; missing: 'txid' "
                                            r"\(is 'tx_id' it, renamed\?\), 'refid'"):
        parse_export(kraken)
    with pytest.raises(UnknownFormat, match="no known header in the first 50 lines with --delimiter comma, but line "
                                            "1 read as semicolon-delimited is a binance_trades header"):
        parse_export(load("binance_trades.csv").replace(",", ";"), reading=ReadOptions(delimiter=","))
    with pytest.raises(UnknownFormat, match="no column of a known format"):
        parse_export("Name;City\nJane;Basel\n")
    with pytest.raises(UnknownFormat, match=r"no kraken_ledgers header in the first 50 lines\. Nearest: line 1, "
                                            r"read comma-delimited .* has 2 of the 7 columns a kraken_ledgers header "
                                            r"needs; missing: 'txid', 'refid', 'time', 'type', 'asset'\."):
        parse_export(load("binance_trades.csv"), "kraken_ledgers")


def test_a_renamed_column_of_a_new_export_is_named_with_its_format() -> None:
    statement = load("binance_statement.csv").replace("UTC_Time", "UTC Time", 1)
    with pytest.raises(UnknownFormat, match=r"has 4 of the 5 columns a binance_statement header needs; missing: "
                                            r"'utc_time' \(is 'UTC Time' it, renamed\?\)"):
        parse_export(statement)
    htx = load("htx_trades.csv").replace("deal_time", "Deal Time", 1).replace(",", ";")
    with pytest.raises(UnknownFormat, match=r"read semicolon-delimited .* has 8 of the 9 columns a htx_trades header "
                                            r"needs; missing: 'deal_time' \(is 'Deal Time' it, renamed\?\)"):
        parse_export(htx)
    fills = load("coinbase_pro_fills.csv").replace("created at", "created", 1)
    with pytest.raises(UnknownFormat, match=r"9 of the 10 columns a coinbase_pro_fills header needs; missing: "
                                            r"'created at' \(is 'created' it, renamed\?\)"):
        parse_export(fills)


def test_expected_columns_are_what_each_format_matches() -> None:
    """EXPECTED (used only for telling users what is missing) cannot drift from the formats' own matchers, and no
    format is left out of it (a format missing there would never be named as the nearest)."""
    assert set(EXPECTED) == set(FORMATS)
    for fmt, column_sets in EXPECTED.items():
        for columns in column_sets:
            assert FORMATS[fmt][0](columns), (fmt, columns)
            for dropped in range(len(columns)):
                assert not FORMATS[fmt][0](columns[:dropped] + columns[dropped + 1:]), (fmt, columns[dropped])


# ── single-byte files: Excel's "CSV (Comma delimited)" on Windows writes Windows-1252 ───────────────────────
def _noted(text: str) -> str:
    """The Coinbase fixture with notes as a European user types them: '€', 'é', 'µ', '—' are all in cp1252."""
    return text.replace("Bought 0.0016 BTC for $100.69 USD", "Achat café — 100.69 € (µBTC 1600)")


def test_a_windows_1252_file_is_read_as_such_and_says_so() -> None:
    text = _noted(load("coinbase_transactions.csv"))
    excel_de = VARIANTS[0]
    assert excel_de.encoding == "cp1252"
    data = excel_de.bytes(text)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # what made the notes U+FFFD before
    original, result = parse_export(text), parse_export(data)
    assert identities(result) == identities(original)
    [noted] = [r for r in result.records if "Achat" in r.payload["Notes"]]
    assert noted.payload["Notes"] == "Achat café — 100.69 € (µBTC 1600)"
    assert result.layout is not None and result.layout.endswith("Windows-1252 (not valid UTF-8)")
    assert "\ufffd" not in str([r.payload for r in result.records])


def test_bytes_that_fit_neither_utf8_nor_windows_1252_are_refused_until_encoding_says() -> None:
    text = _noted(load("coinbase_transactions.csv")).replace("µBTC", "\u0152BTC")  # Œ: 0x8C in cp1252, 0xBC in cp1250
    data = text.encode("cp1252").replace(b"\x8cBTC", b"\x81BTC")  # a byte cp1252 leaves unassigned
    with pytest.raises(FileRefused, match=r"refused, nothing imported: the file is not UTF-8 .* and not "
                                          r"Windows-1252 either \(byte 0x81 at offset \d+\); give its encoding "
                                          r"with --encoding"):
        parse_export(data)
    read = parse_export(data, reading=ReadOptions(encoding="latin-1"))
    assert identities(read) == identities(parse_export(text))
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        ReadOptions(encoding="klingon")


def test_accounting_negatives_are_negative_in_a_signed_column_and_rejected_elsewhere() -> None:
    excel_us = VARIANTS[1]
    data = excel_us.text(load("coinbase_transactions.csv"))
    assert ",-$700," in data and ",-0.2," in data  # the sell of line 8, as Excel en-US writes it
    bracketed = data.replace(",-$700,", ",($700.00),").replace(",-0.2,", ",(0.2),")
    original, result = parse_export(data.encode()), parse_export(bracketed.encode())
    assert identities(result) == identities(original)  # the sell of 0.2 ETH for 700 USD, exactly as before
    price = bracketed.replace('"$3,500"', '"($3,500.00)"')  # a price is never negative: that row is rejected
    rejected = {r.line: r.reason for r in parse_export(price.encode()).rejected}
    [reason] = [reason for line, reason in rejected.items() if line not in {r.line for r in original.rejected}]
    assert reason == "Price at Transaction: '-$3500.00' must be positive"
