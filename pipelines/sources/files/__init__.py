"""Parsers of exchange and wallet CSV exports into canonical records: pure functions over the file's text.

    result = parse_export(text)              # or parse_export(text, "kraken_ledgers", default_timezone=...)
    result.records / result.rejected / result.ignored / result.data_lines

Supported: binance_trades, coinbase_transactions, kraken_ledgers, ledger_live, generic (TEMPLATE.md).
"""

from pipelines.sources.files.detect import FORMATS, detect_format, parse_export
from pipelines.sources.files.kraken import kraken_asset
from pipelines.sources.files.records import (
    EmptyFile,
    ImportedRecord,
    ParseResult,
    RejectedRow,
    UnknownFormat,
)

__all__ = [
    "FORMATS",
    "EmptyFile",
    "ImportedRecord",
    "ParseResult",
    "RejectedRow",
    "UnknownFormat",
    "detect_format",
    "kraken_asset",
    "parse_export",
]
