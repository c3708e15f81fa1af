"""Kraken "Trades" export (kraken_trades): one line per trade.

Layout (Kraken: History → Export → Trades; the same columns in BittyTax src/bittytax/conv/parsers/kraken.py,
"Kraken Trades"): "txid","ordertxid","pair","time","type","ordertype","price","cost","fee","vol","margin","misc",
"ledgers" (newer files add "postxid","posstatus","cprice","ccost","cfee","cvol","cmargin","net","trades").
Times are UTC. vol is the base quantity, cost the quote amount (fee excluded), fee in the quote. pair is Kraken's
name: legacy 'XXBTZUSD' (two X/Z-prefixed codes), or 'SOLUSD', 'XBT/USD'. A margin trade (margin ≠ 0) opens or
closes a leveraged position: not in the spot ledger, ignored as derivatives.
Import the ledgers export or this one for a period, not both: both describe the same trades.
"""

from __future__ import annotations

from datetime import UTC

from pipelines.sources.files.kraken import kraken_asset
from pipelines.sources.files.records import (
    Header,
    Ignore,
    ImportedRecord,
    Options,
    ParseResult,
    Reader,
    Row,
    RowError,
    parse_decimal,
    parse_time,
    run_rows,
)

FORMAT = "kraken_trades"
_REQUIRED = ("txid", "ordertxid", "pair", "time", "type", "price", "cost", "fee", "vol", "margin")
# Kraken's quote currencies, longest first (BittyTax kraken.py QUOTE_ASSETS)
_QUOTES = ("PYUSD", "USDT", "USDC", "ZUSD", "ZEUR", "ZGBP", "ZCAD", "ZJPY", "ZAUD", "XXBT", "XETH", "USD", "EUR",
           "GBP", "CAD", "JPY", "AUD", "CHF", "AED", "DAI", "DOT", "ETH", "XBT")
DERIVATIVES = "derivatives: a margin trade (a leveraged position) is not in the spot ledger"


def matches(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in _REQUIRED) and "refid" not in keys


def split_pair(pair: str) -> tuple[str, str]:
    """'XXBTZUSD' → ('BTC', 'USD'); 'SOLUSD' → ('SOL', 'USD'); 'XBT/USD' → ('BTC', 'USD')."""
    text = pair.strip().upper()
    if not text or any(c.isspace() for c in text):
        raise RowError(f"pair: '{pair}' is not a Kraken pair name")
    if "/" in text:
        base, _, quote = text.partition("/")
        return kraken_asset(base, "pair"), kraken_asset(quote, "pair")
    if len(text) == 8 and text[0] in "XZ" and text[4] in "XZ":
        return kraken_asset(text[:4], "pair"), kraken_asset(text[4:], "pair")
    for quote in _QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return kraken_asset(text[:-len(quote)], "pair"), kraken_asset(quote, "pair")
    raise RowError(f"pair: '{pair}' does not end with a known Kraken quote currency")


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in _REQUIRED}

    def handle(row: Row) -> ImportedRecord:
        margin = parse_decimal(row.get(col["margin"]), "margin", sign="nonnegative", required=False)
        if margin:
            raise Ignore(DERIVATIVES)
        occurred = parse_time(row.get(col["time"]), "time", naive=UTC, missing_zone="", now=options.now)
        base, quote = split_pair(row.get(col["pair"]))
        side = row.get(col["type"]).lower()
        if side not in ("buy", "sell"):
            raise RowError(f"type: '{row.get(col['type'])}' is not buy or sell")
        quantity = parse_decimal(row.get(col["vol"]), "vol")
        cost = parse_decimal(row.get(col["cost"]), "cost")
        price = parse_decimal(row.get(col["price"]), "price")
        fee = parse_decimal(row.get(col["fee"]), "fee", sign="nonnegative", required=False)
        return ImportedRecord(
            lines=(row.line,), record_type="trade", occurred_at=occurred, base_asset=base, quote_asset=quote,
            side=side, quantity=quantity, price=price, cost=cost, fee_amount=fee,
            fee_asset=quote if fee is not None else None, venue_record_id=row.get(col["txid"]) or None,
            payload=row.payload)

    return run_rows(FORMAT, Reader(lines, header), handle)
