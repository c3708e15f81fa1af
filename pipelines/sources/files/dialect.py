"""How a CSV file is written — encoding, delimiter, decimal mark, date order, summary footer — sniffed from the
file, or given by the user where guessing could be wrong. Pure: bytes or text in, text out.

Spreadsheets re-save exports in the user's locale. Excel's "CSV" uses the Windows list separator (';' where the
decimal mark is ',': de-DE, fr-FR, …) and the ANSI code page, "CSV UTF-8" adds a byte-order mark, "Unicode Text"
is UTF-16LE with a BOM and tabs; numbers come back with the locale's decimal mark (and grouping, when the column
was formatted so: '57,000.00', '57.000,00'), dates in the locale's short format ('15.03.2024 14:22',
'3/15/2024 14:22'; Excel for Mac '3/15/24'). The cells that are wholly a number, an amount of money or a date are
read back into the venue's own notation ('57000.00', '2024-03-15 14:22:07'); every other cell is left as written.
Nothing is guessed (DialectRefused says what was found instead):
- the decimal mark is decided by cells that only one reading fits ('0,5', '1234.5', '57,000.00'); a file whose
  only evidence is '1,234' or '1.234' (thousands, or a decimal?) needs --decimal-comma or --decimal-point;
- the date order by a date whose first or second field is over 12 ('15/03/2024', '03/15/2024'); '3/1/2024' alone
  needs --date-format. Dotted dates ('15.03.2024') are day first: every locale that writes them so does;
- a venue's export whose re-formatted times lost their seconds (Excel's default 'm/d/yyyy h:mm') is refused: its
  records would no longer be the venue's (they would match neither the API's nor the original file's);
- two-digit years ('3/15/24') are refused unless a --date-format pattern with %y is given.
A venue's own notation is never a spreadsheet's: each format names what its venue writes beyond ISO dates and
plain decimals (Native: Binance's '21-01-24 22:24:15', year first with two digits; Coinbase Pro's '2.7535e-7'), and
such cells are neither evidence of how the file was re-saved nor read back — the format's parser reads them as
the venue wrote them, in the original file or in a re-saved one where the spreadsheet left them as text.

Why one module of ~400 lines: the four sniffers share one walk over the cells and one refusal vocabulary.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

# ── options the user gives ───────────────────────────────────────────────────────────────────────────────
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DELIMITER_NAMES = {**{name: char for char, name in DELIMITERS.items()}, **{char: char for char in DELIMITERS},
                    "\\t": "\t"}
DATE_ORDERS = ("DMY", "MDY", "YMD")
# A number is evidence of the other decimal mark only as a small minority (a stray hand-typed cell, rejected or read
# by its own unambiguous notation); above this share of the evidence the file mixes notations and is refused.
MIXED_SHARE = 0.05


class DialectRefused(ValueError):
    """The file's notation is ambiguous, mixed, or lost information; the message says what was found."""


def delimiter_named(text: str) -> str:
    """',' ';' '|' or a tab, from the character or its name ('semicolon', 'tab', '\\t')."""
    found = _DELIMITER_NAMES.get(text) or _DELIMITER_NAMES.get(text.strip().lower())
    if found is None:
        raise ValueError(f"unknown delimiter '{text}' (expected one of , ; | tab)")
    return found


def date_format_named(text: str) -> str:
    """'DMY', 'MDY', 'YMD' (the order of the date's fields; separators and times are recognised) or a strptime
    pattern such as '%d/%m/%Y %H:%M:%S'."""
    if text.strip().upper() in DATE_ORDERS:
        return text.strip().upper()
    if "%" not in text:
        raise ValueError(f"unknown date format '{text}' (expected DMY, MDY, YMD or a pattern such as "
                         "'%d/%m/%Y %H:%M:%S')")
    try:
        datetime(2024, 3, 15, 14, 22, 7).strftime(text)
    except ValueError as exc:
        raise ValueError(f"date format '{text}': {exc}") from None
    return text


@dataclass(frozen=True)
class Native:
    """What a venue writes in its own export that could pass for a spreadsheet's notation: such a cell is the
    venue's, not evidence of a re-save, and is left as written (the format's parser reads it)."""

    dates: re.Pattern[str] | None = None  # e.g. Binance's two-digit year first: '21-01-24 22:24:15'
    scientific: bool = False  # numbers like '2.7535e-7' (a point, a lowercase e: no spreadsheet writes that)

    def date(self, cell: str) -> bool:
        return self.dates is not None and self.dates.fullmatch(cell.strip()) is not None

    def number(self, cell: str) -> bool:
        return self.scientific and _VENUE_SCIENTIFIC.fullmatch(cell.strip()) is not None


# A program's scientific notation: Python and JavaScript write '2.7535e-7'; Excel and LibreOffice write an upper-case
# E and at least two exponent digits in the locale's decimal mark ('2.7535E-07', '2,7535E-07').
_VENUE_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?e[+-]?\d+")


@dataclass(frozen=True)
class ReadOptions:
    """What the user says about a file's notation (None: sniff it)."""

    delimiter: str | None = None  # one of DELIMITERS
    decimal_comma: bool | None = None  # True: ',' is the decimal mark; False: '.'
    date_format: str | None = None  # DMY | MDY | YMD | a strptime pattern
    encoding: str | None = None  # a Python codec name ('cp1252', 'latin-1', 'utf-8'): overrides detection

    def __post_init__(self) -> None:
        if self.encoding is not None:
            try:
                object.__setattr__(self, "encoding", codecs.lookup(self.encoding).name)
            except LookupError:
                raise ValueError(f"unknown encoding '{self.encoding}' (e.g. utf-8, cp1252, latin-1)") from None
        if self.delimiter is not None:
            object.__setattr__(self, "delimiter", delimiter_named(self.delimiter))
        if self.date_format is not None:
            object.__setattr__(self, "date_format", date_format_named(self.date_format))


# ── bytes → text ─────────────────────────────────────────────────────────────────────────────────────────
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


# Excel's "CSV (Comma delimited)" on Windows, and older tools, write the ANSI code page: Windows-1252 in Western
# locales ('€' 0x80, 'é' 0xE9, 'µ' 0xB5). Its five unassigned bytes (0x81 0x8D 0x8F 0x90 0x9D) never occur in such a
# file, so bytes that are not UTF-8 but decode as cp1252 are read as cp1252; anything else is refused.
SINGLE_BYTE = "cp1252"


class EncodingRefused(ValueError):
    """The bytes are neither UTF-8 (or UTF-16 with its marks) nor Windows-1252: the user must say (--encoding)."""


def encoding_of(data: bytes, forced: str | None = None) -> tuple[str, int]:
    """(codec, BOM length). `forced` (--encoding) decides, past a BOM; else a BOM decides; without one, text whose
    every other byte is NUL is UTF-16 (Excel always writes the BOM, other tools do not); valid UTF-8 is UTF-8;
    bytes that are not but fit Windows-1252 are cp1252. Raises EncodingRefused when none fits."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return (forced or name), len(bom)
    if forced:
        return forced, 0
    sample = data[:4096]
    if len(sample) >= 4 and len(sample) % 2 == 0:
        odd, even = sample[1::2], sample[0::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le", 0
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be", 0
    try:
        data.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        data.decode(SINGLE_BYTE)
        return SINGLE_BYTE, 0
    except UnicodeDecodeError as exc:
        if b"\x00" in sample:  # what a user can act on: not a text file at all (UTF-16 was told apart above)
            raise EncodingRefused("the file holds NUL bytes: it is binary, not CSV text (a photo, a spreadsheet's "
                                  "own format: save it as CSV)") from None
        raise EncodingRefused(
            f"the file is not UTF-8 (byte 0x{data[utf8_error.start]:02X} at offset {utf8_error.start}) and not "
            f"Windows-1252 either (byte 0x{data[exc.start]:02X} at offset {exc.start}); give its encoding with "
            "--encoding (e.g. latin-1, cp1250, shift_jis)") from None


def decode(data: bytes, forced: str | None = None) -> str:
    """The file's text (BOM removed), in the encoding encoding_of finds (or `forced`). With --encoding, bytes that
    do not fit it become U+FFFD: the row holding one is rejected."""
    name, bom = encoding_of(data, forced)
    return data[bom:].decode(name, errors="replace")


def whole_lines(data: bytes, limit: int) -> bytes:
    """The first `limit` bytes of a file cut after its last whole line, in the file's own encoding (a UTF-16 line
    ends in two bytes, which must not be split)."""
    if len(data) <= limit:
        return data
    try:
        name, _ = encoding_of(data)
    except EncodingRefused:
        name = "utf-8"  # refused when decoded; a single-byte '\n' is still the line end
    newline = "\n".encode(name)
    end = data.rfind(newline, 0, limit)
    while end >= 0 and end % len(newline):  # a UTF-16 '\n' starts at an even offset
        end = data.rfind(newline, 0, end)
    return data[:end + len(newline)] if end >= 0 else data[:limit - limit % len(newline)]


# ── cells ────────────────────────────────────────────────────────────────────────────────────────────────
def split_cells(line: str, delimiter: str = ",") -> list[str]:
    """One physical line as cells (cells with line breaks inside quotes are not supported)."""
    return next(csv.reader([line], delimiter=delimiter, strict=True, skipinitialspace=True), [])


# Numbers: sign, currency symbol (Coinbase's money cells, before or after the number), body, exponent.
_NUMBER = re.compile(r"(?P<s1>[+-]?)\s*(?P<c1>[$€£]?)\s*(?P<s2>[+-]?)"
                     r"(?P<body>\d(?:[\d.,'\u00a0\u202f]*\d)?|[.,]\d+)(?P<exp>[eE][+-]?\d+)?\s*(?P<c2>[$€£]?)")
# Grouping that says nothing of the decimal mark: de-CH 57'000.00, fr-FR 57 000,00 (a no-break space, U+00A0, or
# a narrow one, U+202F, as Excel and LibreOffice write it; a plain space is not a spreadsheet's grouping).
_SPACES = "'\u00a0\u202f"
_GROUPS = {c: re.compile(rf"[1-9]\d{{0,2}}(?:{re.escape(c)}\d{{3}})+") for c in ",." + _SPACES}


@dataclass(frozen=True)
class _Number:
    sign: str
    symbol: str
    body: str
    exp: str


def _number(cell: str) -> _Number | None:
    text = cell.strip()
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        # an accounting negative as a spreadsheet shows it: '(1,240.00)', '(1.240,00)', '($5.00)'; read as -x,
        # which a format's parser then accepts only in a signed column (elsewhere: rejected as negative)
        inner = _number(text[1:-1])
        return None if inner is None or inner.sign else _Number("-", inner.symbol, inner.body, inner.exp)
    match = _NUMBER.fullmatch(text)
    if match is None or (match["s1"] and match["s2"]) or (match["c1"] and match["c2"]):
        return None
    return _Number(match["s1"] or match["s2"], match["c1"] or match["c2"], match["body"], match["exp"] or "")


def _parts(cell: str) -> tuple[_Number, str, bool] | None:
    """(the number, its body without a space-like grouping, whether it had one)."""
    parsed = _number(cell)
    if parsed is None:
        return None
    body = parsed.body
    for char in _SPACES:
        if char in body:
            integer = re.split(r"[.,]", body, maxsplit=1)[0]
            if not _GROUPS[char].fullmatch(integer):
                return None
            return parsed, body.replace(char, ""), True
    return parsed, body, False


def number_evidence(cell: str) -> str | None:
    """What a cell says of the decimal mark: 'point', 'comma', 'ambiguous' ('1,234', '1.234': thousands or a
    decimal?), 'none' (an integer), or None (not a number)."""
    parts = _parts(cell)
    if parts is None:
        return None
    _, body, spaced = parts
    if body.isdigit():
        return "none"
    last = max(body.rfind("."), body.rfind(","))
    mark, integer, decimals = body[last], body[:last], body[last + 1:]
    kind = "point" if mark == "." else "comma"
    group = "," if mark == "." else "."
    if not decimals.isdigit():
        return None
    if mark in integer:  # '1.234.567' (or '1,234,567'): the mark groups thousands, the other is the decimal mark
        other = "comma" if mark == "." else "point"
        return other if not spaced and _GROUPS[mark].fullmatch(body) else None
    if group in integer:  # '57,000.00', '57.000,00'
        return kind if not spaced and _GROUPS[group].fullmatch(integer) else None
    if not (integer.isdigit() or integer == ""):
        return None
    if len(decimals) == 3 and not spaced and _GROUPS[mark].fullmatch(body):
        return "ambiguous"  # '1,234' / '123.456': a decimal, or thousands grouped
    return kind


def normalise_number(cell: str, decimal_comma: bool) -> str | None:
    """The cell in plain notation ('-$1234.5', '1.5E-06'), read with the given decimal mark; None when it is not a
    number in that notation (the cell is then left as written, and the format's parser judges it)."""
    parts = _parts(cell)
    if parts is None:
        return None
    parsed, body, spaced = parts
    mark, group = (",", ".") if decimal_comma else (".", ",")
    if body.count(mark) > 1:
        return None
    integer, sep, decimals = body.partition(mark)
    if sep and not decimals.isdigit():
        return None
    if group in integer:
        if spaced or not _GROUPS[group].fullmatch(integer):
            return None
        integer = integer.replace(group, "")
    if not (integer.isdigit() or (integer == "" and sep)):
        return None
    plain = integer + ("." + decimals if sep else "")
    return f"{parsed.sign}{parsed.symbol}{plain}{parsed.exp}"


# Dates a spreadsheet writes: day/month/year in some order, a 4- or 2-digit year, optional time and AM/PM.
_TIME = (r"(?:[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
         r"(?:\s*(?P<ap>[AaPp])\.?[Mm]\.?)?)?")
_DMY = re.compile(r"(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})\.?" + _TIME)
_YMD = re.compile(r"(?P<y>\d{4})(?P<sep>[./])\s?(?P<a>\d{1,2})(?P=sep)\s?(?P<b>\d{1,2})\.?" + _TIME)


@dataclass(frozen=True)
class DateCell:
    """A re-formatted date: its fields as written, and what they say of the order."""

    first: int
    second: int
    year: str
    evidence: str  # 'DMY', 'MDY', 'YMD', 'ambiguous' or 'none' (first == second)
    seconds: bool  # the time has seconds
    match: re.Match[str]


def date_cell(cell: str) -> DateCell | None:
    text = cell.strip()
    ymd = _YMD.fullmatch(text)
    if ymd is not None:
        return DateCell(int(ymd["a"]), int(ymd["b"]), ymd["y"], "YMD", ymd["s"] is not None, ymd)
    match = _DMY.fullmatch(text)
    if match is None:
        return None
    first, second = int(match["a"]), int(match["b"])
    if match["sep"] == ".":
        evidence = "DMY"
    elif first == second:
        evidence = "none"
    elif first > 12 >= second:
        evidence = "DMY"
    elif second > 12 >= first:
        evidence = "MDY"
    else:
        evidence = "ambiguous" if first <= 12 and second <= 12 else "none"
    return DateCell(first, second, match["y"], evidence, match["s"] is not None, match)


def normalise_date(cell: str, date_format: str) -> str | None:
    """The cell as 'YYYY-MM-DD HH:MM[:SS[.ffffff]]' read in the given order or pattern; None when it is not a date
    in it (left as written: an ISO timestamp stays as it is, anything else is judged by the format's parser)."""
    if "%" in date_format:
        try:
            moment = datetime.strptime(cell.strip(), date_format)
        except ValueError:
            return None
        with_seconds = any(code in date_format for code in ("%S", "%T", "%X", "%c"))
        return moment.isoformat(sep=" ", timespec="microseconds" if moment.microsecond else
                                "seconds" if with_seconds else "minutes")
    found = date_cell(cell)
    if found is None or len(found.year) != 4:
        return None
    if found.evidence == "YMD":  # year first: the order is written in the cell
        month, day = found.first, found.second
    elif date_format == "DMY":
        day, month = found.first, found.second
    elif date_format == "MDY":
        month, day = found.first, found.second
    else:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    match = found.match
    date = f"{found.year}-{month:02d}-{day:02d}"
    if match["h"] is None:
        return date
    hour = int(match["h"])
    if match["ap"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["ap"].lower() == "p" else 0)
    time = f"{hour:02d}:{match['mi']}" + (f":{match['s']}" if match["s"] else "")
    return f"{date} {time}" + (f".{match['f']}" if match["f"] else "")


# ── the file's dialect ───────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Where:
    """A cell quoted in a message: its line, its column and what it says."""

    line: int
    column: str
    cell: str

    def __str__(self) -> str:
        return f"'{self.cell[:40]}' (line {self.line}, {self.column})"


@dataclass(frozen=True)
class Dialect:
    """How a file is written; `normalise` turns its cells into the venue's notation."""

    delimiter: str = ","
    decimal_comma: bool | None = None  # None: not sniffed, numbers are left as written
    date_format: str | None = None  # DMY | MDY | YMD | a strptime pattern; None: no re-formatted date seen
    encoding: str = "utf-8"
    native: Native = field(default_factory=Native)  # the venue's own notation, left as written

    def normalise(self, cells: list[str]) -> list[str]:
        if self.decimal_comma is None and self.date_format is None:
            return cells  # the venue's own notation: nothing to read back
        pattern = self.date_format is not None and "%" in self.date_format  # the user's: it says how dates are
        out = []
        for cell in cells:
            value = None
            if self.date_format is not None and any(c in cell for c in "/.-") and (
                    pattern or not self.native.date(cell)):
                value = normalise_date(cell, self.date_format)
            if value is None and self.decimal_comma is not None and any(c.isdigit() for c in cell) and \
                    not self.native.number(cell):
                value = normalise_number(cell, self.decimal_comma)
            out.append(cell if value is None else value)
        return out

    def describe(self) -> str:
        parts = [f"{DELIMITERS[self.delimiter]}-delimited", "decimal comma" if self.decimal_comma else
                 "decimal point"]
        if self.date_format:
            parts.append(f"dates {self.date_format}")
        if self.encoding == SINGLE_BYTE:
            parts.append("Windows-1252 (not valid UTF-8)")
        elif self.encoding != "utf-8":
            parts.append(self.encoding.upper())
        return ", ".join(parts)


PLAIN_CSV = Dialect()  # comma-delimited, decimal point, ISO dates: how the venues write their exports


@dataclass
class _Evidence:
    """What the cells of a file say, with the first cell of each kind (for the messages)."""

    numbers: dict[str, int] = field(default_factory=dict)
    dates: dict[str, int] = field(default_factory=dict)
    first_number: dict[str, Where] = field(default_factory=dict)
    first_date: dict[str, Where] = field(default_factory=dict)
    no_seconds: Where | None = None
    short_year: Where | None = None

    def number(self, kind: str, where: Callable[[], Where]) -> None:
        self.numbers[kind] = self.numbers.get(kind, 0) + 1
        if kind not in self.first_number:
            self.first_number[kind] = where()

    def date(self, kind: str, where: Callable[[], Where]) -> None:
        self.dates[kind] = self.dates.get(kind, 0) + 1
        if kind not in self.first_date:
            self.first_date[kind] = where()


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")  # a venue's own timestamp (parse_time reads it)


_STARTS = frozenset("0123456789+-.,$€£")  # how a number or a date can start; anything else is text


@lru_cache(maxsize=1 << 16)
def _classify(cell: str, native: Native) -> tuple[str, str, bool, bool] | None:
    """('date', order evidence, has seconds, two-digit year) | ('iso', …) | ('number', kind, grouped, …) | None.
    The venue's own notation is 'iso' (a date) or None (a number): no evidence of a re-save.
    Cached: the same cells recur (zeros, fees, whole numbers) and every cell of a file is looked at."""
    if native.date(cell):
        return "iso", "iso", True, False
    if native.number(cell):
        return None
    found = date_cell(cell)
    if found is not None:
        return "date", found.evidence, found.seconds, len(found.year) == 2
    if _ISO.fullmatch(cell.strip()):
        return "iso", "iso", True, False
    kind = number_evidence(cell)
    if kind is None:
        return None
    return "number", kind, _grouped(cell, kind), False


def _gather(rows: Iterable[tuple[int, list[str]]], names: tuple[str, ...], native: Native) -> _Evidence:
    evidence = _Evidence()
    for line, cells in rows:
        for index, cell in enumerate(cells):
            if not cell or cell[0] not in _STARTS:
                continue
            found = _classify(cell, native)
            if found is None:
                continue
            what, kind, flag, short = found

            def where(line: int = line, index: int = index, cell: str = cell) -> Where:
                return Where(line, names[index] if index < len(names) else f"column {index + 1}", cell.strip())

            if what == "number":
                evidence.number(kind, where)
                if flag:
                    evidence.number("grouped", where)
                continue
            evidence.date(kind, where)
            if not flag and evidence.no_seconds is None:
                evidence.no_seconds = where()
            if short and evidence.short_year is None:
                evidence.short_year = where()
    return evidence


def _grouped(cell: str, kind: str) -> bool:
    """The number groups its thousands ('57,000.00', '57 000,00'; '1,234' may): a spreadsheet's formatting."""
    parts = _parts(cell)
    assert parts is not None
    _, body, spaced = parts
    return spaced or kind == "ambiguous" or (kind == "point" and "," in body) or (kind == "comma" and "." in body)


def _stray(part: int, whole: int) -> bool:
    """A few cells in another notation than the file's: typed by hand, not a re-save; left as written (the
    format's parser rejects what it cannot read) rather than deciding how the file is read."""
    return part <= MIXED_SHARE * whole


def _decimal_mark(evidence: _Evidence, given: bool | None) -> bool | None:
    """True/False: the decimal mark, numbers are read back from it; None: the file is in the venue's own notation
    (decimal points, no grouping but a stray cell), its cells are left as written."""
    numbers, first = evidence.numbers, evidence.first_number
    point, comma = numbers.get("point", 0), numbers.get("comma", 0)
    if given is not None:
        against, agree = (point, comma) if given else (comma, point)
        if against > agree:
            kind, option = ("point", "--decimal-comma") if given else ("comma", "--decimal-point")
            raise DialectRefused(f"{option} was given, but the numbers are written with a decimal "
                                 f"{kind} ({against} cells, e.g. {first[kind]}); leave the option out")
        return given
    if point and comma and not _stray(min(point, comma), point + comma):
        raise DialectRefused(f"the numbers mix decimal marks: {first['point']} has a decimal point, {first['comma']} "
                             "a decimal comma; re-export the file, or say which is meant with --decimal-point or "
                             "--decimal-comma")
    if comma > point:
        return True
    if point:
        return None if _stray(numbers.get("grouped", 0), sum(v for k, v in numbers.items() if k != "grouped")) \
            else False
    if "ambiguous" in numbers:
        return _refuse_number(first["ambiguous"].cell, first["ambiguous"])
    return None


def _refuse_number(cell: str, where: Where) -> bool:
    mark = "," if "," in cell else "."
    raise DialectRefused(f"numbers like {where} can be read two ways — '{mark}' grouping thousands or '{mark}' as "
                         "the decimal mark — and no other number in the file tells which; say it with "
                         "--decimal-comma or --decimal-point")


def _date_order(evidence: _Evidence, given: str | None, venue_format: bool) -> str | None:
    dates, first = evidence.dates, evidence.first_date
    reformatted = sum(count for kind, count in dates.items() if kind != "iso")
    if given is None and _stray(reformatted, reformatted + dates.get("iso", 0)):
        return None  # the venue's own timestamps (a stray other date is the parser's to reject)
    if given in ("DMY", "MDY"):
        other = "MDY" if given == "DMY" else "DMY"
        if other in dates:
            raise DialectRefused(f"--date-format {given} was given, but {first[other]} can only be {other}; "
                                 "leave the option out or correct it")
    if evidence.short_year is not None and (given is None or "%y" not in given):
        raise DialectRefused(f"dates like {evidence.short_year} have a two-digit year (Excel for Mac writes them "
                             "so): the century is not in the file; import the file as the venue wrote it, or give "
                             "a --date-format pattern with %y")
    pattern_without_seconds = given is not None and "%" in given and not any(
        code in given for code in ("%S", "%T", "%X", "%c"))
    lost = evidence.no_seconds is not None and (given is None or "%" not in given)
    if venue_format and (lost or pattern_without_seconds):
        shown = f": {evidence.no_seconds}" if evidence.no_seconds else f" (--date-format '{given}' has no %S)"
        raise DialectRefused(f"the times were re-formatted by a spreadsheet and lost their seconds{shown}. The "
                             "venue writes them to the second, and a record without its seconds is no longer the "
                             "venue's (it would match neither the API's nor the original file's): import the file "
                             "as downloaded, or format the column as yyyy-mm-dd hh:mm:ss before saving")
    if given is not None:
        return given
    if "DMY" in dates and "MDY" in dates:
        raise DialectRefused(f"the dates mix orders: {first['DMY']} is day first, {first['MDY']} month first; "
                             "re-export the file, or say which is meant with --date-format DMY or MDY")
    for order in ("DMY", "MDY"):
        if order in dates:
            return order
    if "ambiguous" in dates:
        raise DialectRefused(f"dates like {first['ambiguous']} can be day first or month first, and no date in "
                             "the file has a day over 12 to tell which; say it with --date-format DMY or MDY (or "
                             "a pattern such as '%d/%m/%Y %H:%M:%S')")
    # Only year-first dates (read by their own order) or dates whose day equals their month (either order).
    return "YMD" if set(dates) == {"YMD"} else "DMY"


def sniff(rows: Iterable[tuple[int, list[str]]], names: tuple[str, ...], delimiter: str, options: ReadOptions,
          *, venue_format: bool, encoding: str = "utf-8", native: Native | None = None) -> Dialect:
    """The dialect of a file's data rows ((line, cells) as split by `delimiter`); `native` is what the venue
    itself writes that is not a spreadsheet's notation. Raises DialectRefused."""
    native = native or Native()
    evidence = _gather(rows, names, native)
    return Dialect(delimiter, _decimal_mark(evidence, options.decimal_comma),
                   _date_order(evidence, options.date_format, venue_format), encoding, native)


# ── summary footers ──────────────────────────────────────────────────────────────────────────────────────
_TOTAL = re.compile(r"(?:grand\s+)?(?:totals?|sum|summe|gesamt\w*|totaal|totale|somme|suma|subtotal|insgesamt)"
                    r"\b.*", re.IGNORECASE)


FOOTER_LIMIT = 10  # non-blank lines a footer may have: a longer block at the end is data, judged row by row


def footer_start(rows: list[tuple[int, list[str] | None]], width: int) -> int | None:
    """The line where a summary footer begins, or None. `rows` are the lines after the header as (line, cells;
    None for a blank line). A footer is the block at the end of the file that a spreadsheet or a person adds
    after the data: it starts with a total line ('Total', 'Summe', …) or after a blank line, and holds only total
    lines and lines not of the header's width (notes), at most FOOTER_LIMIT of them."""
    def is_total(cells: list[str]) -> bool:
        return bool(_TOTAL.fullmatch(next((c.strip() for c in cells if c.strip()), "")))

    def footer_like(cells: list[str]) -> bool:
        used = len(cells)
        while used and not cells[used - 1].strip():
            used -= 1
        return is_total(cells) or used != width

    block: list[int] = []  # positions in rows of the trailing footer-like lines
    for position in range(len(rows) - 1, -1, -1):
        cells = rows[position][1]
        if cells is None:
            continue
        if not footer_like(cells) or len(block) == FOOTER_LIMIT:
            break
        block.append(position)
    else:
        return None  # no data line at all before it: the whole body is malformed, not a footer
    for position in reversed(block):  # the first line that opens a footer: a total, or one after a blank line
        cells = rows[position][1]
        assert cells is not None
        if is_total(cells) or (position > 0 and rows[position - 1][1] is None):
            return rows[position][0]
    return None
