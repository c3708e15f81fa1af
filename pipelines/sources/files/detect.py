"""Which export a file is (by its header line, read with each delimiter), how it is written (dialect.py), whose
export it is, and the entry point that parses it. A file that is no known export is refused with what was found:
its delimiter, its header line, the nearest known format and which of that format's columns are missing."""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from pipelines.sources.files import (
    binance,
    binance_statement,
    binance_transfers,
    coinbase,
    coinbase_pro,
    generic,
    htx,
    kraken,
    kraken_trades,
    ledger_live,
)
from pipelines.sources.files.dialect import (
    DELIMITERS,
    DialectRefused,
    EncodingRefused,
    Native,
    ReadOptions,
    decode,
    encoding_of,
    footer_start,
    sniff,
)
from pipelines.sources.files.records import (
    PREAMBLE_LIMIT,
    REFUSE_SHARE,
    EmptyFile,
    FileRefused,
    Header,
    Options,
    ParseResult,
    UnknownFormat,
    cells_of,
    find_header,
    header_key,
    printable,
    split_lines,
    timezone_named,
)

Matcher = Callable[[tuple[str, ...]], bool]
Parser = Callable[[list[str], Header, Options], ParseResult]

# Most specific first: the generic template's columns are the loosest match.
FORMATS: dict[str, tuple[Matcher, Parser, str]] = {
    binance_statement.FORMAT: (binance_statement.matches, binance_statement.parse,
                               "Binance transaction history (statement): [User_ID,]UTC_Time,Account,Operation,Coin,"
                               "Change,Remark (or the newer User ID,Time,…)"),
    binance.FORMAT: (binance.matches, binance.parse,
                     "Binance Spot trade history: Date(UTC),Pair,Side,Price,Executed,Amount,Fee "
                     "or Date(UTC),Pair,Base Asset,Quote Asset,Type,Price,Amount,Total,Fee,Fee Coin "
                     "or Date(UTC),Market,Type,Price,Amount,Total,Fee,Fee Coin"),
    coinbase.FORMAT: (coinbase.matches, coinbase.parse,
                      "Coinbase transaction history: [ID,]Timestamp,Transaction Type,Asset,Quantity Transacted,"
                      "[Spot ]Price Currency,…"),
    kraken.FORMAT: (kraken.matches, kraken.parse,
                    'Kraken ledgers: "txid","refid","time","type","subtype","aclass","asset",…,"amount","fee",…'),
    binance_transfers.FORMAT: (binance_transfers.matches, binance_transfers.parse,
                               "Binance deposit or withdrawal history: Date(UTC+0),Coin,Network,Amount,[Fee,]Address,"
                               "TXID,Status"),
    coinbase_pro.FILLS: (coinbase_pro.matches_fills, coinbase_pro.parse_fills,
                         "Coinbase Pro fills: [portfolio,]trade id,product,side,created at,size,size unit,price,fee,"
                         "total,price/fee/total unit"),
    coinbase_pro.ACCOUNT: (coinbase_pro.matches_account, coinbase_pro.parse_account,
                           "Coinbase Pro account statement: [portfolio,]type,time,amount,balance,amount/balance unit,"
                           "transfer id,trade id,order id"),
    kraken_trades.FORMAT: (kraken_trades.matches, kraken_trades.parse,
                           'Kraken trades: "txid","ordertxid","pair","time","type","ordertype","price","cost","fee",'
                           '"vol","margin",…'),
    htx.FORMAT: (htx.matches, htx.parse,
                 "HTX trade history: uid,symbol,deal_type,order_type,account_type,price,volume,amount,fee_amount,"
                 "fee_currency,fee_point_currency,fee_point_volume,deal_time"),
    ledger_live.FORMAT: (ledger_live.matches, ledger_live.parse,
                         "Ledger Live operations: Operation Date,[Status,]Currency Ticker,Operation Type,"
                         "Operation Amount,Operation Fees,Operation Hash,…"),
    generic.FORMAT: (generic.matches, generic.parse,
                     "Coinbook generic template: timestamp,type,base_asset,base_quantity,quote_asset,"
                     "quote_quantity,fee_asset,fee_quantity,record_id,txid,note"),
}


# The columns each format's header must have (one tuple per accepted column set, keys as header_key writes
# them), to tell a user how a file that matched no format differs from the nearest one. A format missing here is
# still detected; it is only never named as the nearest. tests/unit/test_file_dialects.py checks that every format
# is here and that each set is exactly what its matcher needs (each set matches; without any one column it does not).
# On a tie the earlier format is named.
EXPECTED: dict[str, tuple[tuple[str, ...], ...]] = {
    binance.FORMAT: (("date(utc)", "pair", "side", "price", "executed", "amount", "fee"),
                     ("date(utc)", "pair", "base asset", "quote asset", "type", "price", "amount", "total", "fee",
                      "fee coin"),
                     ("date(utc)", "market", "type", "price", "amount", "total", "fee", "fee coin")),
    coinbase.FORMAT: (("timestamp", "transaction type", "asset", "quantity transacted", "price currency",
                       "price at transaction"),
                      ("timestamp", "transaction type", "asset", "quantity transacted", "spot price currency",
                       "spot price at transaction")),
    kraken.FORMAT: (("txid", "refid", "time", "type", "asset", "amount", "fee"),),
    ledger_live.FORMAT: (("operation date", "currency ticker", "operation type", "operation amount",
                          "operation fees", "operation hash"),),
    generic.FORMAT: (generic.REQUIRED,),
    binance_statement.FORMAT: (("utc_time", "account", "operation", "coin", "change"),
                               ("time", "account", "operation", "coin", "change")),
    binance_transfers.FORMAT: (("date(utc+0)", "coin", "network", "amount", "address", "txid", "status"),),
    coinbase_pro.FILLS: (("trade id", "product", "side", "created at", "size", "size unit", "price", "fee", "total",
                          "price/fee/total unit"),),
    coinbase_pro.ACCOUNT: (("type", "time", "amount", "balance", "amount/balance unit", "transfer id", "trade id",
                            "order id"),),
    kraken_trades.FORMAT: (("txid", "ordertxid", "pair", "time", "type", "price", "cost", "fee", "vol", "margin"),),
    htx.FORMAT: (("symbol", "deal_type", "account_type", "price", "volume", "amount", "fee_amount", "fee_currency",
                  "deal_time"),),
}


# Whose export each format is: (account kind, venues; None = any venue of that kind). A file of the format is
# imported only into such an account; a format not listed (the generic template) goes into any account.
# Ledger Live exports a hardware wallet's accounts of every chain in one file: any wallet account takes it.
OWNERS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    binance.FORMAT: ("exchange", ("binance",)),
    binance_statement.FORMAT: ("exchange", ("binance",)),
    binance_transfers.FORMAT: ("exchange", ("binance",)),
    coinbase_pro.FILLS: ("exchange", ("coinbase",)),
    coinbase_pro.ACCOUNT: ("exchange", ("coinbase",)),
    kraken_trades.FORMAT: ("exchange", ("kraken",)),
    htx.FORMAT: ("exchange", ("htx",)),
    coinbase.FORMAT: ("exchange", ("coinbase",)),
    kraken.FORMAT: ("exchange", ("kraken",)),
    ledger_live.FORMAT: ("wallet", None),
}


# What a venue writes in its own export that could pass for a spreadsheet's notation (dialect.Native): read as the
# venue wrote it, in the original file and in a re-saved one, never taken as evidence of a re-save or refused.
NATIVE: dict[str, Native] = {
    binance_statement.FORMAT: binance.TWO_DIGIT_YEAR_NATIVE,
    binance_transfers.FORMAT: binance.TWO_DIGIT_YEAR_NATIVE,
    coinbase_pro.FILLS: coinbase_pro.FILLS_NATIVE,
}


def _a(words: str) -> str:
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def check_owner(fmt: str, account_id: str, kind: str, venue: str) -> None:
    """Raises FileRefused when a format that belongs to a venue (or account kind) is imported into an account of
    another: a Kraken ledger in a Binance account would book Kraken's history as Binance's."""
    owner = OWNERS.get(fmt)
    if owner is None:
        return
    owner_kind, venues = owner
    if kind == owner_kind and (venues is None or venue in venues):
        return
    belongs = f"{' or '.join(venues)} {owner_kind}" if venues else owner_kind
    raise FileRefused(f"{fmt} is the export of {_a(belongs)} account, but '{account_id}' is {_a(kind)} account "
                      f"on {venue}: import it into {_a(belongs)} account, or write it in the generic template "
                      "(pipelines/sources/files/TEMPLATE.md), which any account takes")


def refusal(result: ParseResult, expected: str) -> str | None:
    """Why the whole file is refused, or None: more than REFUSE_SHARE of its first SAMPLE_LINES data lines (reading
    stopped there) or of all its data lines were rejected. One line: what was expected and the first reasons."""
    if result.complete and len(result.rejected) <= REFUSE_SHARE * result.data_lines:
        return None
    scope = f"the first {result.data_lines}" if not result.complete else f"{result.data_lines}"
    first = "; ".join(f"line {r.line}: {r.reason[:160]}" for r in result.rejected[:3])
    return (f"refused, nothing imported: {len(result.rejected)} of {scope} data lines are not valid {result.format} "
            f"rows (expected {expected}). First reasons: {first}")


def _supported() -> str:
    return "; ".join(f"{name} ({description})" for name, (_, _, description) in FORMATS.items())


def _lines(text: str) -> list[str]:
    lines = split_lines(text)
    if not any(line.strip() for line in lines):
        raise EmptyFile("the file is empty")
    return lines


def _delimiters(reading: ReadOptions) -> tuple[str, ...]:
    return (reading.delimiter,) if reading.delimiter else tuple(DELIMITERS)


def _locate(lines: list[str], delimiters: tuple[str, ...]) -> tuple[str, Header]:
    # The first line (within the preamble limit) that is some format's header, read with one of the delimiters.
    for number, line in enumerate(lines[:PREAMBLE_LIMIT], start=1):
        if not line.strip():
            continue
        for delimiter in delimiters:
            try:
                header = Header.of(number, cells_of(line, delimiter))
            except csv.Error:
                continue
            for name, (matches, _, _) in FORMATS.items():
                if matches(header.keys):
                    return name, replace(header, dialect=replace(header.dialect, delimiter=delimiter))
    raise UnknownFormat(_not_found(lines, delimiters))


def _shown(names: list[str] | tuple[str, ...], limit: int = 12) -> str:
    shown = ", ".join(f"'{printable(n, 40)}'" for n in names[:limit])
    return shown + (f", … ({len(names)} columns)" if len(names) > limit else "")


def _not_found(lines: list[str], delimiters: tuple[str, ...], only: str | None = None) -> str:
    """What a file with no known header (or no `only` header) holds: the line most like a header (with its
    delimiter), the nearest known format and the columns it lacks (with the column each might be renamed to)."""
    intro = f"no {only or 'known'} header in the first {PREAMBLE_LIMIT} lines"
    if len(delimiters) == 1 and only is None:
        try:
            fmt, header = _locate(lines, tuple(DELIMITERS))
        except UnknownFormat:
            pass
        else:
            found = DELIMITERS[header.dialect.delimiter]
            return (f"{intro} with --delimiter {DELIMITERS[delimiters[0]]}, but line {header.line} read as "
                    f"{found}-delimited is a {fmt} header: leave --delimiter out (or give {found})")
    best: tuple[float, int, int, str, str, tuple[str, ...], list[str]] | None = None
    widest: tuple[int, int, str, list[str]] | None = None
    for number, line in enumerate(lines[:PREAMBLE_LIMIT], start=1):
        for delimiter in delimiters:
            try:
                names = [cell.replace("\ufeff", "").strip() for cell in cells_of(line, delimiter)]
            except csv.Error:
                continue
            if len(names) < 2:
                continue
            if widest is None or len(names) > widest[0]:
                widest = (len(names), number, delimiter, names)
            keys = {header_key(n) for n in names}
            for fmt, column_sets in EXPECTED.items():
                if only is not None and fmt != only:
                    continue
                for columns in column_sets:
                    share = len(keys & set(columns)) / len(columns)
                    if share > 0 and (best is None or share > best[0]):
                        best = (share, number, len(names), delimiter, fmt, columns, names)
    if best is None:
        if widest is None:
            return f"{intro}: no line has two or more cells with any of the delimiters {_shown(list(DELIMITERS))}"
        _, number, delimiter, names = widest
        return (f"{intro}; the widest line is line {number}, {DELIMITERS[delimiter]}-delimited: {_shown(names)} — "
                f"no column of a known format. Supported formats: {_supported()}")
    _, number, _, delimiter, fmt, columns, names = best
    keys = [header_key(n) for n in names]
    missing = [c for c in columns if c not in keys]
    spare = [k for k in keys if not any(k == c for c in columns)]
    described = []
    for column in missing:
        close = difflib.get_close_matches(column, spare, n=1, cutoff=0.6)
        described.append(f"'{column}'" + (f" (is '{names[keys.index(close[0])]}' it, renamed?)" if close else ""))
    return (f"{intro}. Nearest: line {number}, read {DELIMITERS[delimiter]}-delimited ({_shown(names)}), has "
            f"{len(columns) - len(missing)} of the {len(columns)} columns a {fmt} header needs; missing: "
            f"{', '.join(described)}. Expected {FORMATS[fmt][2]}. Supported formats: {', '.join(FORMATS)}")


def _text(data: str | bytes, forced: str | None = None) -> tuple[str, str]:
    if isinstance(data, bytes):
        try:
            return decode(data, forced), encoding_of(data, forced)[0]
        except EncodingRefused as exc:
            raise FileRefused(f"refused, nothing imported: {exc}") from None
    return data, "utf-8"


def detect_format(data: str | bytes, reading: ReadOptions | None = None) -> str:
    """The format's name, from the first header line found (preamble lines before it are skipped)."""
    reading = reading or ReadOptions()
    return _locate(_lines(_text(data, reading.encoding)[0]), _delimiters(reading))[0]


def _read_as(lines: list[str], fmt: str, header: Header, reading: ReadOptions, encoding: str) -> Header:
    """The header with the file's dialect and footer: numbers, dates and footer sniffed from the data lines (or
    taken from `reading`). Raises FileRefused when the notation is ambiguous, mixed or lost information."""
    delimiter = header.dialect.delimiter
    rows: list[tuple[int, list[str] | None]] = []
    for number, line in enumerate(lines[header.line:], start=header.line + 1):
        try:
            rows.append((number, cells_of(line, delimiter) if line.strip() else None))
        except csv.Error:
            rows.append((number, [line]))  # unreadable: the Reader rejects it; for the footer it is a line
    footer = footer_start(rows, len(header.keys))
    data = [(n, cells) for n, cells in rows if cells is not None and (footer is None or n < footer)]
    try:
        dialect = sniff(data, header.names, delimiter, reading, venue_format=fmt in OWNERS, encoding=encoding,
                        native=NATIVE.get(fmt))
    except DialectRefused as exc:
        raise FileRefused(f"refused, nothing imported: read as {fmt} (header on line {header.line}, "
                          f"{DELIMITERS[delimiter]}-delimited), but {exc}") from None
    return replace(header, dialect=dialect, footer=footer)


def parse_export(data: str | bytes, fmt: str | None = None, *, default_timezone: str | None = None,
                 reading: ReadOptions | None = None, file_name: str | None = None) -> ParseResult:
    """Parse a whole export (text, or bytes in any encoding decode() reads: UTF-8 with or without BOM, UTF-16).
    Bad rows are rejected with a reason, never raised. Raises UnknownFormat when the file is empty or not the
    (given or detected) format, saying what was found; FileRefused when its notation is ambiguous or mixed
    (dialect.py: the options in `reading` settle it). A file whose lines mostly fail comes back with `refused`
    set (reading stops after SAMPLE_LINES data lines when those fail): nothing of it is to be imported.
    default_timezone (IANA) is for naive generic timestamps; an unknown zone name raises ValueError."""
    options = Options(now=datetime.now(UTC),
                      default_tz=timezone_named(default_timezone) if default_timezone else None,
                      file_name=file_name)
    reading = reading or ReadOptions()
    text, encoding = _text(data, reading.encoding)
    lines = _lines(text)
    if fmt is None:
        fmt, header = _locate(lines, _delimiters(reading))
    else:
        if fmt not in FORMATS:
            raise UnknownFormat(f"unknown format '{fmt}'; supported formats: {', '.join(FORMATS)}")
        found = find_header(lines, FORMATS[fmt][0], _delimiters(reading))
        if found is None:
            if fmt in EXPECTED:
                raise UnknownFormat(_not_found(lines, _delimiters(reading), fmt))
            raise UnknownFormat(f"no {fmt} header in the first {PREAMBLE_LIMIT} lines; expected {FORMATS[fmt][2]}")
        header = found
    header = _read_as(lines, fmt, header, reading, encoding)
    result = FORMATS[fmt][1](lines, header, options)
    result.refused = refusal(result, FORMATS[fmt][2])
    result.layout = header.dialect.describe()
    return result
