"""Which export a file is (by its header line), and the entry point that parses it."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime

from pipelines.sources.files import binance, coinbase, generic, kraken, ledger_live
from pipelines.sources.files.records import (
    PREAMBLE_LIMIT,
    EmptyFile,
    Header,
    Options,
    ParseResult,
    UnknownFormat,
    cells_of,
    find_header,
    split_lines,
    timezone_named,
)

Matcher = Callable[[tuple[str, ...]], bool]
Parser = Callable[[list[str], Header, Options], ParseResult]

# Most specific first: the generic template's columns are the loosest match.
FORMATS: dict[str, tuple[Matcher, Parser, str]] = {
    binance.FORMAT: (binance.matches, binance.parse,
                     "Binance Spot trade history: Date(UTC),Pair,Side,Price,Executed,Amount,Fee "
                     "or Date(UTC),Pair,Base Asset,Quote Asset,Type,Price,Amount,Total,Fee,Fee Coin"),
    coinbase.FORMAT: (coinbase.matches, coinbase.parse,
                      "Coinbase transaction history: [ID,]Timestamp,Transaction Type,Asset,Quantity Transacted,"
                      "[Spot ]Price Currency,…"),
    kraken.FORMAT: (kraken.matches, kraken.parse,
                    'Kraken ledgers: "txid","refid","time","type","subtype","aclass","asset",…,"amount","fee",…'),
    ledger_live.FORMAT: (ledger_live.matches, ledger_live.parse,
                         "Ledger Live operations: Operation Date,[Status,]Currency Ticker,Operation Type,"
                         "Operation Amount,Operation Fees,Operation Hash,…"),
    generic.FORMAT: (generic.matches, generic.parse,
                     "Coinbook generic template: timestamp,type,base_asset,base_quantity,quote_asset,"
                     "quote_quantity,fee_asset,fee_quantity,record_id,txid,note"),
}


def _supported() -> str:
    return "; ".join(f"{name} ({description})" for name, (_, _, description) in FORMATS.items())


def _lines(text: str) -> list[str]:
    lines = split_lines(text)
    if not any(line.strip() for line in lines):
        raise EmptyFile("the file is empty")
    return lines


def _locate(lines: list[str]) -> tuple[str, Header]:
    # The first line (within the preamble limit) that is some format's header decides.
    for number, line in enumerate(lines[:PREAMBLE_LIMIT], start=1):
        if not line.strip():
            continue
        try:
            header = Header.of(number, cells_of(line))
        except csv.Error:
            continue
        for name, (matches, _, _) in FORMATS.items():
            if matches(header.keys):
                return name, header
    raise UnknownFormat(f"no known header in the first {PREAMBLE_LIMIT} lines; supported formats: {_supported()}")


def detect_format(text: str) -> str:
    """The format's name, from the first header line found (preamble lines before it are skipped)."""
    return _locate(_lines(text))[0]


def parse_export(text: str, fmt: str | None = None, *, default_timezone: str | None = None) -> ParseResult:
    """Parse a whole export. Bad rows are rejected with a reason, never raised; only a file that is empty or
    not the (given or detected) format raises UnknownFormat. default_timezone (IANA) is for naive generic
    timestamps; an unknown zone name raises ValueError."""
    options = Options(now=datetime.now(UTC),
                      default_tz=timezone_named(default_timezone) if default_timezone else None)
    lines = _lines(text)
    if fmt is None:
        fmt, header = _locate(lines)
    else:
        if fmt not in FORMATS:
            raise UnknownFormat(f"unknown format '{fmt}'; supported formats: {', '.join(FORMATS)}")
        found = find_header(lines, FORMATS[fmt][0])
        if found is None:
            raise UnknownFormat(f"no {fmt} header in the first {PREAMBLE_LIMIT} lines; expected {FORMATS[fmt][2]}")
        header = found
    return FORMATS[fmt][1](lines, header, options)
