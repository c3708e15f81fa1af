"""Canonical records of imported export files, and the value parsing every format shares.

Pure: no I/O, no clock except the "not in the future" check. Amounts are exact Decimals (never floats),
times aware UTC datetimes. A bad cell raises `RowError` inside a row handler; the drivers turn it into a
`RejectedRow`, so one bad row never stops a file.

Why one module of ~410 lines: the cell parsers every export format shares (decimals, money, times, assets) and
the row driver that turns their errors into rejects; each format module (binance.py, kraken.py, …) is small
because these are in one place.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Context, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.constants import ASSET_CODE, GENESIS
from pipelines.sources.files.dialect import PLAIN_CSV, Dialect, split_cells

RECORD_TYPES = ("trade", "deposit", "withdrawal", "income", "fee")
INCOME_KINDS = ("staking", "interest", "airdrop", "reward", "other")
MAX_INTEGER_DIGITS = 20  # numeric(38,18): 20 digits before the point,
MAX_DECIMALS = 18  # and 18 after it
PREAMBLE_LIMIT = 50  # lines searched for the header (Coinbase puts a few lines of text before it)
# A file whose lines mostly fail is not this format (or not an export at all): it is refused whole, nothing
# imported, rather than every line quarantined. Judged on the first SAMPLE_LINES data lines as they are read
# (reading stops there when they fail) and again on the whole file.
SAMPLE_LINES = 500
REFUSE_SHARE = 0.5  # refused when more than this share of the sample (or of the file) is rejected
# What a rejected line keeps for the quarantine: the line and reason, not unbounded copies of junk.
CELL_LIMIT = 1_000  # characters per cell (and per column name)
LINE_LIMIT = 10_000  # characters per line, all cells together
REASON_LIMIT = 500  # characters of a reason (reasons quote the offending cell)
FOOTER_REASON = "summary footer after the data (a total or notes a spreadsheet added)"

Payload = dict[str, Any]


@dataclass(frozen=True)
class ImportedRecord:
    lines: tuple[int, ...]  # 1-based physical line numbers in the file that produced this record
    record_type: str  # 'trade' | 'deposit' | 'withdrawal' | 'income' | 'fee'
    occurred_at: datetime  # aware, UTC
    # trades: side is 'buy'|'sell' of base_asset; cost = quote amount (> 0)
    base_asset: str | None = None
    quote_asset: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    cost: Decimal | None = None
    # movements (deposit / withdrawal / income / fee): asset and a positive amount, fee excluded
    asset: str | None = None
    amount: Decimal | None = None
    fee_amount: Decimal | None = None  # >= 0, None when absent
    fee_asset: str | None = None
    venue_record_id: str | None = None  # the venue's own id when the file has one
    txid: str | None = None  # on-chain transaction hash when the file has one
    income_kind: str | None = None  # 'staking' | 'interest' | 'airdrop' | 'reward' | 'other'
    payload: Payload = field(default_factory=dict)  # header → cell; several lines: {"rows": [...]}


@dataclass(frozen=True)
class RejectedRow:
    line: int  # 1-based physical line number
    reason: str  # which column, what was wrong (one printable line, ≤ REASON_LIMIT characters)
    payload: Payload  # header → cell; for unparseable lines {"text": raw line}; bounded, no NUL (bounded_payload)
    truncated: bool = False  # the payload was cut to CELL_LIMIT / LINE_LIMIT


@dataclass
class ParseResult:
    format: str
    records: list[ImportedRecord]
    rejected: list[RejectedRow]
    data_lines: int  # data rows read (not header, preamble or blank lines)
    # Data lines that are deliberately no-ops (documented per format, e.g. Kraken moves between the account's
    # own wallets, a repeated header): (line, why). Every data line read is in records, rejected or here.
    ignored: list[tuple[int, str]] = field(default_factory=list)
    complete: bool = True  # False: reading stopped after the sample, which failed (data_lines = what was read)
    refused: str | None = None  # why the whole file is refused (most lines fail); then nothing is to be imported
    layout: str | None = None  # how the file was read: delimiter, decimal mark, date order, encoding


@dataclass(frozen=True)
class Options:
    """What every format's parser is given besides the lines."""

    now: datetime  # for the "not in the future" check, read once per file
    default_tz: tzinfo | None = None  # for naive timestamps, where the format allows it (generic)
    file_name: str | None = None  # some exports state their time zone only in their name (Binance's statement)


class UnknownFormat(ValueError):
    """The file is not one of the supported exports (or not the one asked for)."""


class EmptyFile(UnknownFormat):
    """The file has no content at all."""


class FileRefused(ValueError):
    """The whole file is refused: most of its lines fail, or it is another venue's export than the account's."""


class RowError(ValueError):
    """A row (or one of its cells) is wrong; the message says which column and why."""


class Ignore(Exception):  # a signal, not an error
    """A data line that is a documented no-op; the message says why."""


# ── values ────────────────────────────────────────────────────────────────────────────────────────────────
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+")  # 1,234,567.89 (US grouping only)
_MONEY = re.compile(r"([+-]?)\s*([$€£]?)\s*([+-]?)\s*(.*)")
_NOT_FINITE = {"nan", "snan", "inf", "infinity"}
_WIDE = Context(prec=80)  # quotients are computed wide, then cut to 18 decimals


def _finite_check(text: str, column: str) -> None:
    if text.lstrip("+-").lower() in _NOT_FINITE or text.lower().lstrip("+-$€£ ") in _NOT_FINITE:
        raise RowError(f"{column}: '{text}' is not a finite number")


def check_range(value: Decimal, column: str, text: str | None = None) -> Decimal:
    """numeric(38,18): at most 20 integer digits and 18 decimals (trailing zeros do not count)."""
    shown = text if text is not None else str(value)
    if not value.is_finite():
        raise RowError(f"{column}: '{shown}' is not a finite number")
    if value.is_zero():
        return value
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if len(digits) + exponent > MAX_INTEGER_DIGITS:
        raise RowError(f"{column}: '{shown}' has more than {MAX_INTEGER_DIGITS} integer digits")
    if -exponent > MAX_DECIMALS:
        raise RowError(f"{column}: '{shown}' has more than {MAX_DECIMALS} decimals")
    return value


def check_sign(value: Decimal, column: str, sign: str, text: str | None = None) -> Decimal:
    shown = text if text is not None else str(value)
    if sign == "positive" and value <= 0:
        raise RowError(f"{column}: '{shown}' must be positive" + (" (it is zero)" if value == 0 else ""))
    if sign == "nonnegative" and value < 0:
        raise RowError(f"{column}: '{shown}' must not be negative")
    if sign == "nonzero" and value == 0:
        raise RowError(f"{column}: '{shown}' is zero")
    return value


def parse_decimal(text: str, column: str, *, sign: str = "positive", thousands: bool = False,
                  required: bool = True) -> Decimal | None:
    """An exact Decimal from a cell. sign: 'positive' (> 0), 'nonnegative', 'nonzero' or 'any'.

    thousands=True accepts US grouping (1,234.5) — only for venues known to write it (Coinbase)."""
    raw = text.strip()
    if not raw:
        if required:
            raise RowError(f"{column}: empty")
        return None
    if len(raw) > 120:
        raise RowError(f"{column}: '{raw[:40]}…' is not a number (too long)")
    _finite_check(raw, column)
    body = raw
    if thousands:
        sign_char = body[0] if body[0] in "+-" else ""
        rest = body[len(sign_char):]
        if not _GROUPED.fullmatch(rest):
            raise RowError(f"{column}: '{raw}' is not a number")
        body = sign_char + rest.replace(",", "")
    elif not _PLAIN.fullmatch(body):
        raise RowError(f"{column}: '{raw}' is not a number")
    try:
        value = Decimal(body)
    except InvalidOperation:
        raise RowError(f"{column}: '{raw}' is not a number") from None
    check_range(value, column, raw)
    return check_sign(value, column, sign, raw)


def parse_money(text: str, column: str, *, sign: str = "any", required: bool = True) -> Decimal | None:
    """A money cell as Coinbase writes it: '$62,000.00', '-$1.50', '€3.10', or a plain number."""
    raw = text.strip()
    if not raw:
        if required:
            raise RowError(f"{column}: empty")
        return None
    _finite_check(raw, column)
    match = _MONEY.fullmatch(raw)
    if match is None or (match.group(1) and match.group(3)):
        raise RowError(f"{column}: '{raw}' is not an amount of money")
    try:
        value = parse_decimal(match.group(4), column, sign="any", thousands=True)
    except RowError as exc:
        if "is not a number" not in str(exc):
            raise  # too many digits or decimals: that message is the precise one
        raise RowError(f"{column}: '{raw}' is not an amount of money") from None
    assert value is not None
    if "-" in (match.group(1), match.group(3)):
        value = -value
    return check_sign(value, column, sign, raw)


def divide(numerator: Decimal, denominator: Decimal, column: str) -> Decimal:
    """numerator / denominator, exact when it terminates within 18 decimals, else rounded to 18."""
    quotient = _WIDE.divide(numerator, denominator)
    exponent = int(quotient.as_tuple().exponent)
    if exponent < -MAX_DECIMALS:
        quotient = quotient.quantize(Decimal(1).scaleb(-MAX_DECIMALS), context=_WIDE)
    elif exponent > 0:  # 28000 / 0.5 comes out as 5.600E+4: same value, written plainly
        quotient = quotient.quantize(Decimal(1), context=_WIDE)
    if not quotient.is_zero():
        _, digits, exponent = quotient.as_tuple()
        if len(digits) + int(exponent) > MAX_INTEGER_DIGITS:
            raise RowError(f"{column}: {numerator} / {denominator} has more than {MAX_INTEGER_DIGITS} integer digits")
    if quotient <= 0:
        raise RowError(f"{column}: {numerator} / {denominator} is not positive at 18 decimals")
    return quotient


_ASSET = re.compile(ASSET_CODE)


def parse_asset(text: str, column: str) -> str:
    """An upper-case asset code (ccxt unified codes are upper case; digits allowed, e.g. 1INCH)."""
    raw = text.strip()
    if not raw:
        raise RowError(f"{column}: empty (an asset code is required)")
    code = raw.upper()
    if not _ASSET.fullmatch(code):
        raise RowError(f"{column}: '{raw}' is not an asset code")
    return code


# ── times ─────────────────────────────────────────────────────────────────────────────────────────────────
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?", re.IGNORECASE)


def timezone_named(name: str) -> tzinfo:
    """An IANA zone (zoneinfo); a bad name is the caller's error, not a row's."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone '{name}' (expected an IANA name such as 'Europe/Paris')") from exc


def _offset(text: str) -> tzinfo:
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 18 or minutes > 59:
        raise ValueError(text)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time(text: str, column: str, *, naive: tzinfo | None, missing_zone: str, now: datetime) -> datetime:
    """An aware UTC datetime from an ISO-8601-like cell ('2024-03-01 10:00:00', '...T10:00:00.123Z',
    '... UTC', '...+02:00'). A cell without a zone is read in `naive`; if that is None it is rejected with
    `missing_zone` as the reason. Fractions beyond microseconds are truncated (Python's resolution)."""
    raw = text.strip()
    if not raw:
        raise RowError(f"{column}: empty (a timestamp is required)")
    match = _TIMESTAMP.fullmatch(raw)
    if match is None:
        raise RowError(f"{column}: '{raw}' is not a timestamp (expected YYYY-MM-DD HH:MM:SS)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        wall = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                        int((fraction or "0")[:6].ljust(6, "0")))
        zone_info = _offset(zone) if zone else None
    except ValueError:
        raise RowError(f"{column}: '{raw}' is not a valid date and time") from None
    if zone_info is None:
        if naive is None:
            raise RowError(missing_zone.format(text=raw, column=column))
        zone_info = naive
        local = wall.replace(tzinfo=naive)
        if local.astimezone(UTC).astimezone(naive).replace(tzinfo=None) != wall:
            raise RowError(f"{column}: '{raw}' does not exist in {naive} (clocks were put forward); add an offset")
        if local.utcoffset() != local.replace(fold=1).utcoffset():
            raise RowError(f"{column}: '{raw}' happened twice in {naive} (clocks were put back); add an offset")
    try:
        moment = wall.replace(tzinfo=zone_info).astimezone(UTC)
    except OverflowError:
        raise RowError(f"{column}: '{raw}' is out of range") from None
    if moment < GENESIS:
        raise RowError(f"{column}: '{raw}' is before {GENESIS:%Y-%m-%d} (the first block)")
    if moment > now + timedelta(days=1):
        raise RowError(f"{column}: '{raw}' is in the future")
    return moment


# ── the CSV grid ──────────────────────────────────────────────────────────────────────────────────────────
def split_lines(text: str) -> list[str]:
    """Physical lines: LF or CRLF ends (a file with CR only, old Mac style, is split on CR)."""
    text = text.removeprefix("\ufeff")
    if "\n" not in text and "\r" in text:
        return text.split("\r")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line, it does not start another
    return [line.removesuffix("\r") for line in lines]


def cells_of(line: str, delimiter: str = ",") -> list[str]:
    """One physical line as CSV cells (cells with line breaks inside quotes are not supported)."""
    return split_cells(line, delimiter)


def header_key(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


@dataclass(frozen=True)
class Header:
    line: int  # 1-based
    names: tuple[str, ...]  # as written (trimmed), the payload's keys
    keys: tuple[str, ...]  # normalised for matching
    # How the data lines are written (delimiter, decimal mark, date order: dialect.py), and the line where a
    # summary footer begins (None: no footer). Set by parse_export once the file is sniffed.
    dialect: Dialect = PLAIN_CSV
    footer: int | None = None

    @classmethod
    def of(cls, line: int, cells: list[str]) -> Header:
        names: list[str] = []
        for cell in cells:
            name = cell.replace("\ufeff", "").strip()
            while name in names:  # a duplicated column keeps both cells in the payload
                name += "#"
            names.append(name)
        return cls(line, tuple(names), tuple(header_key(c) for c in cells))

    def find(self, *aliases: str) -> int | None:
        for alias in aliases:
            if alias in self.keys:
                return self.keys.index(alias)
        return None


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    cells: tuple[str, ...]  # in the venue's notation (a re-saved file's '1.234,5' reads '1234.5')
    header: Header
    written: tuple[str, ...] | None = None  # the cells as the file has them, when that differs

    def get(self, index: int | None) -> str:
        return "" if index is None else self.cells[index].strip()

    @property
    def payload(self) -> Payload:
        """The cells as written: the record's evidence is what the file said, in the file's own notation."""
        return dict(zip(self.header.names, self.written or self.cells, strict=True))


def find_header(lines: list[str], matches: Callable[[tuple[str, ...]], bool],
                delimiters: tuple[str, ...] = (",",)) -> Header | None:
    """The first line (within PREAMBLE_LIMIT) that `matches` accepts read with one of `delimiters`, with that
    delimiter in its dialect."""
    for number, line in enumerate(lines[:PREAMBLE_LIMIT], start=1):
        if not line.strip():
            continue
        for delimiter in delimiters:
            try:
                cells = cells_of(line, delimiter)
            except csv.Error:
                continue
            header = Header.of(number, cells)
            if matches(header.keys):
                return replace(header, dialect=Dialect(delimiter))
    return None


# ── what a rejected line keeps ────────────────────────────────────────────────────────────────────────────
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str, limit: int = REASON_LIMIT) -> str:
    """One printable line: control characters (NUL, CR, tab, …) shown as \\xNN escapes — PostgreSQL refuses
    NUL in text, and a terminal would act on the others — cut to `limit` characters."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= limit else f"{text[:limit]}… (cut, {len(text):,} characters)"


def _clip(text: str, limit: int) -> tuple[str, bool]:
    text = text.replace("\x00", "\\x00")  # jsonb refuses \u0000; the escape shows where it was
    if len(text) <= limit:
        return text, False
    return f"{text[:limit]}… (cut, {len(text):,} characters)", True


def bounded_payload(payload: Payload, cell_limit: int = CELL_LIMIT) -> tuple[Payload, bool]:
    """A rejected line's cells as the quarantine keeps them: each cell (and column name) ≤ cell_limit
    characters, all of them about LINE_LIMIT at most (a cut cell adds its marker), NUL escaped;
    (payload, whether anything was cut)."""
    out: Payload = {}
    budget, cut = LINE_LIMIT, False
    for position, (key, value) in enumerate(payload.items()):
        if budget <= 0:
            out["…"] = f"{len(payload) - position} more cells left out"
            return out, True
        name, name_cut = _clip(str(key), CELL_LIMIT)
        if isinstance(value, str):
            value, value_cut = _clip(value, min(cell_limit, budget))
            budget -= len(value)
        else:  # Kraken's {"rows": [...]} never reaches here (rejects carry one row), but stay total
            value, value_cut = value, False
        while name in out:
            name += "#"
        out[name] = value
        budget -= len(name)
        cut = cut or name_cut or value_cut
    return out, cut


@dataclass
class Reader:
    """Walks the data lines after the header: counts them, rejects unreadable ones, yields the rest.

    After SAMPLE_LINES data lines it judges them: when more than REFUSE_SHARE of them were rejected it stops
    reading (`stopped`), so a large file of junk costs a sample, not the whole file."""

    lines: list[str]
    header: Header
    data_lines: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    ignored: list[tuple[int, str]] = field(default_factory=list)
    stopped: bool = False

    def rows(self) -> Iterator[Row]:
        width = len(self.header.keys)
        dialect, footer = self.header.dialect, self.header.footer
        for number, line in enumerate(self.lines[self.header.line:], start=self.header.line + 1):
            if not line.strip():
                continue
            if self.data_lines == SAMPLE_LINES and len(self.rejected) > REFUSE_SHARE * SAMPLE_LINES:
                self.stopped = True
                return
            if footer is not None and number >= footer:
                self.data_lines += 1
                self.ignored.append((number, FOOTER_REASON))
                continue
            try:
                cells = cells_of(line, dialect.delimiter)
            except csv.Error as exc:
                self.data_lines += 1
                self.reject(number, f"unreadable CSV line (unbalanced quotes?): {exc}", {"text": line})
                continue
            if not any(c.strip() for c in cells):
                continue  # a row of empty cells (spreadsheets leave them) is a blank line
            self.data_lines += 1
            if "\x00" in line:  # binary data: no cell of it is trusted (and PostgreSQL refuses NUL in text)
                self._reject_nul(number, line, cells)
                continue
            if tuple(header_key(c) for c in cells) == self.header.keys:
                self.ignored.append((number, "repeated header line"))
                continue
            if len(cells) > width and not any(c.strip() for c in cells[width:]):
                cells = cells[:width]  # trailing empty cells: a spreadsheet artefact, nothing lost
            if len(cells) != width:
                self.reject(number, f"expected {width} cells as in the header, found {len(cells)}", {"text": line})
                continue
            read = dialect.normalise(cells)
            yield Row(number, line, tuple(read), self.header, tuple(cells) if read != cells else None)

    def _reject_nul(self, number: int, line: str, cells: list[str]) -> None:
        names = self.header.names
        index = next((i for i, cell in enumerate(cells[:len(names)]) if "\x00" in cell), None)
        where = f"{names[index]}: " if index is not None else ""
        payload = dict(zip(names, cells, strict=True)) if len(cells) == len(names) else {"text": line}
        self.reject(number, f"{where}contains a NUL byte (\\x00): binary data, not CSV text", payload)

    def reject(self, line: int, reason: str, payload: Payload) -> None:
        # An unreadable line is one text of up to LINE_LIMIT; a line read into cells keeps CELL_LIMIT a cell.
        kept, truncated = bounded_payload(payload, LINE_LIMIT if list(payload) == ["text"] else CELL_LIMIT)
        self.rejected.append(RejectedRow(line, printable(reason), kept, truncated))

    def result(self, fmt: str, records: list[ImportedRecord]) -> ParseResult:
        return ParseResult(fmt, sorted(records, key=lambda r: r.lines), sorted(self.rejected, key=lambda r: r.line),
                           self.data_lines, sorted(self.ignored), complete=not self.stopped)


def run_rows(fmt: str, reader: Reader, handle: Callable[[Row], ImportedRecord]) -> ParseResult:
    """One record per row; RowError → rejected, Ignore → ignored, anything unexpected → rejected too."""
    records: list[ImportedRecord] = []
    for row in reader.rows():
        try:
            records.append(handle(row))
        except RowError as exc:
            reader.reject(row.line, str(exc), row.payload)
        except Ignore as exc:
            reader.ignored.append((row.line, str(exc)))
        except Exception as exc:  # a parser bug must not lose the rest of the file; the row says what happened
            reader.reject(row.line, f"unexpected error while reading this row: {type(exc).__name__}: {exc}",
                          row.payload)
    return reader.result(fmt, records)
