"""HTX (Huobi) spot trade history export (htx_trades): for history older than the API's 120 days.

Layout (HTX: Orders → Spot Orders → Trade History → Export; the columns and sample rows in everytrade-io's
everytrade-plugins HuobiBuySellBeanV1Test):
    uid,symbol,deal_type,order_type,account_type,price,volume,amount,fee_amount,fee_currency,fee_point_currency,
    fee_point_volume,deal_time
symbol is 'SOL/USDT'; volume is the base quantity and amount the quote amount (price × volume); the fee is in
fee_currency (the coin received, lower case); a fee paid with HTX points (fee_point_volume) costs no coin of the
trade and is kept in the payload only. deal_time carries no zone and HTX does not say which one it is (its site
shows the user's local time): pass the zone the file was exported in (`--timezone`, e.g. Asia/Singapore or
UTC); without one every line is rejected, never guessed. Only spot fills are read; margin fills (account_type
margin, super-margin) are ignored as derivatives.
"""

from __future__ import annotations

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

FORMAT = "htx_trades"
_REQUIRED = ("symbol", "deal_type", "account_type", "price", "volume", "amount", "fee_amount", "fee_currency",
             "deal_time")
MISSING_ZONE = ("{column}: '{text}' has no time zone and HTX does not write one: pass the zone the file was "
                "exported in (--timezone, e.g. Asia/Singapore or UTC)")
DERIVATIVES = "derivatives: a margin account's fill is not in the spot ledger"


def matches(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in _REQUIRED)


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in (*_REQUIRED, "uid")}

    def handle(row: Row) -> ImportedRecord:
        account = row.get(col["account_type"]).lower()
        if account != "spot":
            if account in ("margin", "super-margin", "cross-margin"):
                raise Ignore(DERIVATIVES)
            raise RowError(f"account_type: '{row.get(col['account_type'])}' is not spot or margin")
        occurred = parse_time(row.get(col["deal_time"]), "deal_time", naive=options.default_tz,
                              missing_zone=MISSING_ZONE, now=options.now)
        symbol = row.get(col["symbol"])
        base_text, slash, quote_text = symbol.partition("/")
        if not slash:
            raise RowError(f"symbol: '{symbol}' is not BASE/QUOTE")
        base, quote = parse_asset(base_text, "symbol"), parse_asset(quote_text, "symbol")
        side = row.get(col["deal_type"]).lower()
        if side not in ("buy", "sell"):
            raise RowError(f"deal_type: '{row.get(col['deal_type'])}' is not buy or sell")
        fee = parse_decimal(row.get(col["fee_amount"]), "fee_amount", sign="nonnegative", required=False)
        fee_asset = parse_asset(row.get(col["fee_currency"]), "fee_currency") if fee else None
        return ImportedRecord(
            lines=(row.line,), record_type="trade", occurred_at=occurred, base_asset=base, quote_asset=quote,
            side=side, quantity=parse_decimal(row.get(col["volume"]), "volume"),
            price=parse_decimal(row.get(col["price"]), "price"), cost=parse_decimal(row.get(col["amount"]), "amount"),
            fee_amount=fee if fee else None, fee_asset=fee_asset, payload=row.payload)

    return run_rows(FORMAT, Reader(lines, header), handle)
