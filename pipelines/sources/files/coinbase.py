"""Coinbase "Transaction history" report (coinbase_transactions).

A few lines of text come before the header (a tax notice, 'Transactions', 'User,<name>,<uuid>'); line
numbers still count them. Two column sets:
  new: ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,Price at Transaction,Subtotal,
       Total (inclusive of fees and/or spread),Fees and/or Spread,Notes — money cells like '$62,000.00'
  old: Timestamp,Transaction Type,Asset,Quantity Transacted,Spot Price Currency,Spot Price at Transaction,…
       (older still: 'USD Spot Price at Transaction', 'USD Subtotal', … with the currency in the header).
Transaction types as real reports carry them (BittyTax src/bittytax/conv/parsers/coinbase.py reads the same
set): trades (Buy, Sell, Advanced Trade Buy/Sell, Convert), movements (Send, Receive, Deposit, Withdrawal, Pro or
Exchange Deposit/Withdrawal: to and from Coinbase Pro), income (Rewards Income, Staking Income, Learning Reward,
Coinbase Earn, Inflation Reward, Interest Payout, Subscription Rebate) and moves between the user's own Coinbase
wallets (Retail Staking/Unstaking Transfer, Vault Withdrawal, Cash to Savings), which are ignored.
Coinbase signs quantities and money cells by direction in some versions (a sale or a send shows
'-0.5', '-$1.50'); the transaction type already says the direction, so sells/sends take magnitudes, while a
buy, a receive or an income must be positive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pipelines.sources.files.records import (
    Header,
    Ignore,
    ImportedRecord,
    Options,
    ParseResult,
    Reader,
    Row,
    RowError,
    divide,
    parse_asset,
    parse_decimal,
    parse_money,
    parse_time,
    run_rows,
)

FORMAT = "coinbase_transactions"
MISSING_ZONE = "{column}: '{text}' has no time zone (Coinbase writes '… UTC' or '…Z')"
_TRADES = {"buy": "buy", "advanced trade buy": "buy", "sell": "sell", "advanced trade sell": "sell"}
# Pro/Exchange Deposit moves coins from Coinbase into Coinbase Pro (a withdrawal of this account), Pro/Exchange
# Withdrawal back (a deposit): the Pro account's statement has the other side (BittyTax coinbase.py does the same).
_MOVEMENTS = {"send": "withdrawal", "withdrawal": "withdrawal", "receive": "deposit", "deposit": "deposit",
              "pro deposit": "withdrawal", "exchange deposit": "withdrawal", "pro withdrawal": "deposit",
              "exchange withdrawal": "deposit"}
_INCOME = {"rewards income": "reward", "reward income": "reward", "staking income": "staking",
           "learning reward": "reward", "coinbase earn": "reward", "inflation reward": "staking",
           "interest payout": "interest", "subscription rebate": "reward", "subscription rebates (24 hours)": "reward"}
# Moves between the user's own Coinbase wallets (to and from staking): the balance of the asset is unchanged.
_NO_OPS = {"retail staking transfer", "retail unstaking transfer", "vault withdrawal", "cash to savings"}
_KNOWN = ("Buy, Sell, Advanced Trade Buy, Advanced Trade Sell, Convert, Send, Receive, Deposit, Withdrawal, "
          "Pro Deposit, Pro Withdrawal, Exchange Deposit, Exchange Withdrawal, Rewards Income, Staking Income, "
          "Learning Reward, Coinbase Earn, Inflation Reward, Interest Payout, Subscription Rebate")
_NUMBER = r"[\d,]*\.?\d+"
_CONVERT = re.compile(rf"Converted\s+({_NUMBER})\s+(\S+)\s+to\s+({_NUMBER})\s+(\S+?)\.?", re.IGNORECASE)
# 'Bought 0.01 ETH for 0.00052 BTC on ETH-BTC at 0.052 BTC/ETH': crypto-quoted Advanced Trade fills, where the
# report's money columns are the user's currency but the trade was against another crypto.
_ADVANCED = re.compile(rf"(?:Bought|Sold)\s+({_NUMBER})\s+(\S+)\s+for\s+({_NUMBER})\s+(\S+)\s+on\s+(\S+)-(\S+)"
                       rf"\s+at\s+({_NUMBER})\s+\S+", re.IGNORECASE)
_PRICE = ("price at transaction", "spot price at transaction")
_PRICE_CCY = ("price currency", "spot price currency")
_SUBTOTAL = ("subtotal",)
_TOTAL = ("total (inclusive of fees and/or spread)", "total (inclusive of fees)")
_FEES = ("fees and/or spread", "fees")


def _column(header: Header, names: tuple[str, ...], suffixes: tuple[str, ...] = ()) -> tuple[int | None, str | None]:
    """(index, currency implied by the header) — 'USD Subtotal' implies USD."""
    index = header.find(*names)
    if index is not None:
        return index, None
    for i, key in enumerate(header.keys):
        for suffix in suffixes:
            match = re.fullmatch(rf"([a-z]{{3}}) {re.escape(suffix)}", key)
            if match:
                return i, match.group(1).upper()
    return None, None


def matches(keys: tuple[str, ...]) -> bool:
    header = Header(0, keys, keys)
    required = ("timestamp", "transaction type", "asset", "quantity transacted")
    price, implied = _column(header, _PRICE, _PRICE)
    return (all(k in keys for k in required) and price is not None
            and (implied is not None or header.find(*_PRICE_CCY) is not None))


@dataclass(frozen=True)
class _Columns:
    """Where each column is in this file's header (None: absent), and the currency a suffix implied."""

    id: int | None
    time: int | None
    type: int | None
    asset: int | None
    qty: int | None
    notes: int | None
    ccy: int | None
    price: int | None
    implied: str | None
    subtotal: int | None
    fees: int | None

    @classmethod
    def of(cls, header: Header) -> _Columns:
        price, implied = _column(header, _PRICE, _PRICE)
        return cls(header.find("id"), header.find("timestamp"), header.find("transaction type"),
                   header.find("asset"), header.find("quantity transacted"), header.find("notes"),
                   header.find(*_PRICE_CCY), price, implied, _column(header, _SUBTOTAL, _SUBTOTAL)[0],
                   _column(header, _FEES, _FEES)[0])


def _convert(notes: str, asset: str, common: dict[str, Any]) -> ImportedRecord:
    match = _CONVERT.fullmatch(notes)
    if match is None:
        raise RowError(f"Notes: '{notes}' does not read 'Converted <qty> <asset> to <qty> <asset>'")
    quantity = parse_decimal(match.group(1), "Notes (converted quantity)", thousands=True)
    base = parse_asset(match.group(2), "Notes (converted asset)")
    cost = parse_decimal(match.group(3), "Notes (received quantity)", thousands=True)
    quote = parse_asset(match.group(4), "Notes (received asset)")
    if base != asset:
        raise RowError(f"Notes: converts {base} but Asset is {asset}")
    assert quantity is not None and cost is not None
    # No fee: the spread of a conversion is already inside the amount received; charging it again
    # would count it twice. It stays visible in the payload.
    return ImportedRecord(record_type="trade", base_asset=base, quote_asset=quote, side="sell",
                          quantity=quantity, cost=cost, price=divide(cost, quantity, "price"), **common)


def _trade(row: Row, c: _Columns, side: str, asset: str, currency: str | None, fee: Decimal | None,
           notes: str, common: dict[str, Any]) -> ImportedRecord:
    signed = parse_decimal(row.get(c.qty), "Quantity Transacted", sign="positive" if side == "buy" else "nonzero")
    assert signed is not None
    quantity = abs(signed)
    price = parse_money(row.get(c.price), "Price at Transaction", sign="positive")
    subtotal = parse_money(row.get(c.subtotal), "Subtotal", sign="nonzero")
    assert price is not None and subtotal is not None
    quote, cost = currency, abs(subtotal)
    if quote is None:
        raise RowError("Price Currency: empty (the trade's quote currency is required)")
    fee_asset = quote
    match = _ADVANCED.fullmatch(notes)
    if match and match.group(4).upper() != quote:
        quote = parse_asset(match.group(4), "Notes (quote asset)")
        notes_cost = parse_decimal(match.group(3), "Notes (quote amount)", thousands=True)
        notes_price = parse_decimal(match.group(7), "Notes (price)", thousands=True)
        assert notes_cost is not None and notes_price is not None
        cost, price = notes_cost, notes_price
    return ImportedRecord(record_type="trade", base_asset=asset, quote_asset=quote, side=side,
                          quantity=quantity, price=price, cost=cost, fee_amount=fee,
                          fee_asset=fee_asset if fee is not None else None, **common)


def _movement(row: Row, c: _Columns, kind: str, asset: str, currency: str | None, fee: Decimal | None,
              common: dict[str, Any]) -> ImportedRecord:
    record_type = _MOVEMENTS.get(kind, "income")
    amount = parse_decimal(row.get(c.qty), "Quantity Transacted",
                           sign="nonzero" if record_type == "withdrawal" else "positive")
    assert amount is not None
    # 'Fees and/or Spread' is in the price currency. Only where that is the asset itself (a fiat Deposit or
    # Withdrawal) is it a fee in the asset; for a Send it is what the network fee was worth, and the fee itself,
    # in the coin sent, is inside the quantity: booking it in USD would charge a fee the user never paid. It
    # stays in the payload.
    fee = fee if fee and currency == asset else None
    quantity = abs(amount)
    if record_type == "withdrawal" and fee is not None:
        # The quantity is the whole debit, fee included, as the API's transaction amount is: a Withdrawal of
        # -100 USD with a 1.50 fee sent 98.50 to the bank and paid 1.50 (BittyTax's coinbase parser reads it so).
        if fee > quantity:
            raise RowError(f"Fees and/or Spread: {fee} is more than the {quantity} withdrawn, fee included")
        quantity -= fee
    return ImportedRecord(record_type=record_type, asset=asset, amount=quantity, fee_amount=fee,
                          fee_asset=asset if fee is not None else None, income_kind=_INCOME.get(kind), **common)


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    c = _Columns.of(header)

    def handle(row: Row) -> ImportedRecord:
        kind_text = row.get(c.type)
        kind = kind_text.lower()
        if kind in _NO_OPS:
            raise Ignore(f"'{kind_text}' moves {row.get(c.asset)} between the user's own Coinbase wallets")
        occurred = parse_time(row.get(c.time), "Timestamp", naive=None, missing_zone=MISSING_ZONE, now=options.now)
        asset = parse_asset(row.get(c.asset), "Asset")
        currency_text = row.get(c.ccy) if c.ccy is not None else (c.implied or "")
        currency = parse_asset(currency_text, "Price Currency") if currency_text else None
        common = {"occurred_at": occurred, "lines": (row.line,), "payload": row.payload,
                  "venue_record_id": row.get(c.id) or None}
        fees = parse_money(row.get(c.fees), "Fees and/or Spread", required=False)
        fee = abs(fees) if fees is not None else None
        if kind == "convert":
            return _convert(row.get(c.notes), asset, common)
        if kind in _TRADES:
            return _trade(row, c, _TRADES[kind], asset, currency, fee, row.get(c.notes), common)
        if kind in _MOVEMENTS or kind in _INCOME:
            return _movement(row, c, kind, asset, currency, fee, common)
        raise RowError(f"Transaction Type: '{kind_text}' is not supported (known: {_KNOWN})")

    return run_rows(FORMAT, Reader(lines, header), handle)
