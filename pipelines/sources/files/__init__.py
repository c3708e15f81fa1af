"""Parsers of exchange and wallet CSV exports into canonical records: pure functions over the file's text.

    result = parse_export(text)              # or parse_export(text, "kraken_ledgers", default_timezone=...)
    result.records / result.rejected / result.ignored / result.data_lines / result.refused
    check_owner(result.format, account_id, kind, venue)   # raises FileRefused: another venue's export

A file whose lines mostly fail is refused whole (result.refused), judged on a sample before the rest is read.

Supported: binance_statement, binance_trades, binance_transfers, coinbase_transactions, coinbase_pro_fills,
coinbase_pro_account, kraken_ledgers, kraken_trades, htx_trades, ledger_live, generic (TEMPLATE.md); the README's
supported-exports table says where each is downloaded and what of it is read.
"""

from pipelines.sources.files.detect import FORMATS, OWNERS, check_owner, detect_format, parse_export
from pipelines.sources.files.kraken import kraken_asset
from pipelines.sources.files.records import (
    SAMPLE_LINES,
    EmptyFile,
    FileRefused,
    ImportedRecord,
    ParseResult,
    RejectedRow,
    UnknownFormat,
)

__all__ = [
    "FORMATS",
    "OWNERS",
    "SAMPLE_LINES",
    "EmptyFile",
    "FileRefused",
    "ImportedRecord",
    "ParseResult",
    "RejectedRow",
    "UnknownFormat",
    "check_owner",
    "detect_format",
    "kraken_asset",
    "parse_export",
]
