"""Coinbase Pro (Coinbase Exchange) statements: fills (coinbase_pro_fills) and account statements
(coinbase_pro_account).

Layouts (Coinbase Pro: Statements → Generate, CSV; the same columns in BittyTax
src/bittytax/conv/parsers/coinbasepro.py; sample rows in the perfi project's tests/test_exchange_importers.py):
    fills:   [portfolio,]trade id,product,side,created at,size,size unit,price,fee,total,price/fee/total unit
    account: [portfolio,]type,time,amount,balance,amount/balance unit,transfer id,trade id,order id
Times are ISO 8601 with 'Z'. A fill's total is signed and includes the fee: a BUY of 0.001 SOL at 0.05507 ETH
with a 2.7535e-7 ETH fee shows -0.00005534535 (= -(size × price + fee)); a SELL shows size × price − fee. The
cost of a trade is size × price (the fee is its own). In the account statement one trade is two `match` lines
(one per asset, the same trade id and order id) and a `fee` line; deposits and withdrawals are one line each
(moves to and from Coinbase itself are deposits and withdrawals of the Pro account, matched as internal transfers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pipelines.sources.files.dialect import Native
from pipelines.sources.files.records import (
    Header,
    ImportedRecord,
    Options,
    ParseResult,
    Reader,
    Row,
    RowError,
    divide,
    parse_asset,
    parse_decimal,
    parse_time,
    run_rows,
)

FILLS = "coinbase_pro_fills"
ACCOUNT = "coinbase_pro_account"
_FILL_COLUMNS = ("trade id", "product", "side", "created at", "size", "size unit", "price", "fee", "total",
                 "price/fee/total unit")
_ACCOUNT_COLUMNS = ("type", "time", "amount", "balance", "amount/balance unit", "transfer id", "trade id", "order id")
MISSING_ZONE = "{column}: '{text}' has no time zone (Coinbase Pro writes ISO 8601 with 'Z')"
# A small fee is written in a program's scientific notation ('2.7535e-7', perfi's sample fills): the venue's own,
# read as written, never evidence of how a spreadsheet re-saved the file (dialect.Native).
FILLS_NATIVE = Native(scientific=True)
_QUOTE_RANK = {**dict.fromkeys(("USD", "EUR", "GBP"), 0), **dict.fromkeys(("USDC", "USDT", "DAI", "UST"), 1),
               "BTC": 2, "ETH": 3}


def matches_fills(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in _FILL_COLUMNS)


def matches_account(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in _ACCOUNT_COLUMNS)


def parse_fills(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in _FILL_COLUMNS}

    def handle(row: Row) -> ImportedRecord:
        occurred = parse_time(row.get(col["created at"]), "created at", naive=None, missing_zone=MISSING_ZONE,
                              now=options.now)
        product = row.get(col["product"])
        base_text, dash, quote_text = product.partition("-")
        if not dash:
            raise RowError(f"product: '{product}' is not BASE-QUOTE")
        base, quote = parse_asset(base_text, "product"), parse_asset(quote_text, "product")
        if parse_asset(row.get(col["size unit"]), "size unit") != base:
            raise RowError(f"size unit: '{row.get(col['size unit'])}' is not the base of {product}")
        if parse_asset(row.get(col["price/fee/total unit"]), "price/fee/total unit") != quote:
            raise RowError(f"price/fee/total unit: '{row.get(col['price/fee/total unit'])}' is not the quote of "
                           f"{product}")
        side = row.get(col["side"]).lower()
        if side not in ("buy", "sell"):
            raise RowError(f"side: '{row.get(col['side'])}' is not BUY or SELL")
        size = parse_decimal(row.get(col["size"]), "size")
        price = parse_decimal(row.get(col["price"]), "price")
        fee = parse_decimal(row.get(col["fee"]), "fee", sign="nonnegative")
        total = parse_decimal(row.get(col["total"]), "total", sign="any")
        assert size is not None and price is not None and fee is not None and total is not None
        cost = abs(total) - fee if side == "buy" else total + fee  # total = ∓(size × price) − fee
        if cost <= 0:
            raise RowError(f"total: '{row.get(col['total'])}' leaves no cost once the fee {fee} is taken out")
        return ImportedRecord(
            lines=(row.line,), record_type="trade", occurred_at=occurred, base_asset=base, quote_asset=quote,
            side=side, quantity=size, price=price, cost=cost, fee_amount=fee, fee_asset=quote,
            venue_record_id=f"{product}:{row.get(col['trade id'])}", payload=row.payload)

    return run_rows(FILLS, Reader(lines, header), handle)


@dataclass(frozen=True)
class _Line:
    row: Row
    occurred_at: datetime
    kind: str
    asset: str
    amount: Decimal


def _trade(key: str, legs: list[_Line]) -> ImportedRecord:
    matched = [leg for leg in legs if leg.kind == "match"]
    fees = [leg for leg in legs if leg.kind == "fee"]
    given = [leg for leg in matched if leg.amount < 0]
    received = [leg for leg in matched if leg.amount > 0]
    if len(given) != 1 or len(received) != 1 or given[0].asset == received[0].asset:
        raise RowError(f"trade {key}: its match lines are not one asset given for another received")
    if len(fees) > 1:
        raise RowError(f"trade {key} has {len(fees)} fee lines; a trade has one")
    out, into = given[0], received[0]
    rank_out, rank_in = _QUOTE_RANK.get(out.asset, 9), _QUOTE_RANK.get(into.asset, 9)
    base, quote = (out, into) if rank_in < rank_out else (into, out)
    ordered = sorted(legs, key=lambda leg: leg.row.line)
    fee = abs(fees[0].amount) if fees else None
    return ImportedRecord(
        lines=tuple(leg.row.line for leg in ordered), record_type="trade",
        occurred_at=min(leg.occurred_at for leg in legs), base_asset=base.asset, quote_asset=quote.asset,
        side="buy" if base is into else "sell", quantity=abs(base.amount), cost=abs(quote.amount),
        price=divide(abs(quote.amount), abs(base.amount), "price"), fee_amount=fee,
        fee_asset=fees[0].asset if fees else None, venue_record_id=key,
        payload={"rows": [leg.row.payload for leg in ordered]})


def parse_account(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in _ACCOUNT_COLUMNS}
    reader = Reader(lines, header)
    records: list[ImportedRecord] = []
    trades: dict[str, list[_Line]] = {}
    broken: dict[str, int] = {}
    for row in reader.rows():
        kind = row.get(col["type"]).lower()
        key = f"{row.get(col['trade id'])}/{row.get(col['order id'])}"
        try:
            occurred = parse_time(row.get(col["time"]), "time", naive=None, missing_zone=MISSING_ZONE,
                                  now=options.now)
            asset = parse_asset(row.get(col["amount/balance unit"]), "amount/balance unit")
            amount = parse_decimal(row.get(col["amount"]), "amount", sign="nonzero")
            assert amount is not None
            if kind in ("match", "fee"):
                if not row.get(col["trade id"]):
                    raise RowError(f"trade id: empty (a {kind} line is paired with its trade by it)")
                trades.setdefault(key, []).append(_Line(row, occurred, kind, asset, amount))
            elif kind in ("deposit", "withdrawal"):
                if (amount > 0) != (kind == "deposit"):
                    raise RowError(f"amount: '{row.get(col['amount'])}' has the wrong sign for a {kind}")
                records.append(ImportedRecord(
                    lines=(row.line,), record_type=kind, occurred_at=occurred, asset=asset, amount=abs(amount),
                    venue_record_id=row.get(col["transfer id"]) or None, payload=row.payload))
            else:
                raise RowError(f"type: '{row.get(col['type'])}' is not supported (known: match, fee, deposit, "
                               "withdrawal)")
        except RowError as exc:
            reader.reject(row.line, str(exc), row.payload)
            if kind in ("match", "fee") and row.get(col["trade id"]):
                broken.setdefault(key, row.line)
    for key, legs in trades.items():
        try:
            if key in broken:
                raise RowError(f"a line of trade {key} whose other line (line {broken[key]}) was rejected")
            records.append(_trade(key, legs))
        except RowError as exc:
            for leg in legs:
                reader.reject(leg.row.line, str(exc), leg.row.payload)
    return reader.result(ACCOUNT, records)
