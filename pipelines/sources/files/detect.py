"""Which export a file is (by its header line), whose export it is, and the entry point that parses it."""

from __future__ import annotations

import csv
from collections.abc import Callable
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
    split_lines,
    timezone_named,
)

Matcher = Callable[[tuple[str, ...]], bool]
Parser = Callable[[list[str], Header, Options], ParseResult]

# Most specific first: the generic template's columns are the loosest match.
FORMATS: dict[str, tuple[Matcher, Parser, str]] = {
    binance_statement.FORMAT: (binance_statement.matches, binance_statement.parse,
                               "Binance transaction history (statement): [User_ID,]UTC_Time,Account,Operation,Coin,"
                               "Change,Remark"),
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
    not the (given or detected) format raises UnknownFormat. A file whose lines mostly fail comes back with
    `refused` set (reading stops after SAMPLE_LINES data lines when those fail): nothing of it is to be imported.
    default_timezone (IANA) is for naive generic timestamps; an unknown zone name raises ValueError."""
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
    result = FORMATS[fmt][1](lines, header, options)
    result.refused = refusal(result, FORMATS[fmt][2])
    return result
