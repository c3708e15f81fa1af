"""Binance "Deposit History" and "Withdrawal History" exports (binance_transfers).

Layouts (Binance: Wallet → Transaction History → Deposit / Withdraw → Export; the same columns in BittyTax
src/bittytax/conv/parsers/binance/data_parsers.py, "Binance Deposits" / "Binance Withdrawals"):
    deposits:    Date(UTC+0),Coin,Network,Amount,Address,TXID,Status
    withdrawals: Date(UTC+0),Coin,Network,Amount,Fee,Address,TXID,Status
A file with a Fee column is a withdrawal history, one without a deposit history. The date header names its zone
('Date(UTC+0)', 'Date(UTC+8)'); some exports write the year with two digits, year first ('24-03-01 10:00:00':
binance.TWO_DIGIT_YEAR). A withdrawal's Amount is what was sent and Fee the network fee on top (BittyTax books them
so; Binance's withdraw API reports amount and transactionFee the same way). Only Completed lines moved coins: the
others are ignored.
"""

from __future__ import annotations

from pipelines.sources.files.binance import _date_column, with_century
from pipelines.sources.files.records import (
    Header,
    Ignore,
    ImportedRecord,
    Options,
    ParseResult,
    Reader,
    Row,
    RowError,
    parse_asset,
    parse_decimal,
    parse_time,
    run_rows,
)

FORMAT = "binance_transfers"
_REQUIRED = ("coin", "network", "amount", "address", "txid", "status")


def matches(keys: tuple[str, ...]) -> bool:
    return _date_column(keys) is not None and all(k in keys for k in _REQUIRED)


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    date = _date_column(header.keys)
    assert date is not None
    date_index, zone = date
    col = {name: header.find(name) for name in (*_REQUIRED, "fee")}
    withdrawals = col["fee"] is not None

    def handle(row: Row) -> ImportedRecord:
        status = row.get(col["status"])
        if status.lower() != "completed":
            raise Ignore(f"status '{status}': the {'withdrawal' if withdrawals else 'deposit'} did not complete")
        occurred = parse_time(with_century(row.get(date_index)), header.names[date_index], naive=zone,
                              missing_zone="", now=options.now)
        asset = parse_asset(row.get(col["coin"]), "Coin")
        amount = parse_decimal(row.get(col["amount"]), "Amount")
        fee = parse_decimal(row.get(col["fee"]), "Fee", sign="nonnegative", required=False) if withdrawals else None
        if withdrawals and fee is None:
            raise RowError("Fee: empty (a withdrawal history line states its fee)")
        return ImportedRecord(
            lines=(row.line,), record_type="withdrawal" if withdrawals else "deposit", occurred_at=occurred,
            asset=asset, amount=amount, fee_amount=fee, fee_asset=asset if fee is not None else None,
            txid=row.get(col["txid"]) or None, payload=row.payload)

    return run_rows(FORMAT, Reader(lines, header), handle)
