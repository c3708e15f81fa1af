"""Binance Spot "Trade History" export (binance_trades).

Three column sets are in circulation:
  (a) Date(UTC),Pair,Side,Price,Executed,Amount,Fee — Executed/Amount/Fee carry their unit as a suffix
      ('0.00100000BTC'), which is the only place the base/quote split of Pair is written down;
  (b) Date(UTC),Pair,Base Asset,Quote Asset,Type,Price,Amount,Total,Fee,Fee Coin;
  (c) the older Date(UTC),Market,Type,Price,Amount,Total,Fee,Fee Coin (BittyTax
      src/bittytax/conv/parsers/binance/data_parsers.py, "Binance Trades"): Market glues base and quote
      ('BTCUSDT'); the quote is the longest of Binance's quote assets (QUOTES) that ends it.
The date column's header names its zone ('Date(UTC)'; some exports say 'Date(UTC+8)'). The file carries no
trade id, so venue_record_id stays None.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone, tzinfo

from pipelines.sources.files.dialect import Native
from pipelines.sources.files.records import (
    Header,
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

FORMAT = "binance_trades"
_DATE = re.compile(r"date ?\(utc(?:([+-])(\d{1,2})(?::?(\d{2}))?)?\)")
_VARIANT_A = ("pair", "side", "price", "executed", "amount", "fee")
_VARIANT_B = ("pair", "base asset", "quote asset", "type", "price", "amount", "total", "fee", "fee coin")
_VARIANT_C = ("market", "type", "price", "amount", "total", "fee", "fee coin")
# Binance's quote assets (BittyTax binance/utils.py QUOTE_ASSETS), longest first so USDT wins over USD.
QUOTES = tuple(sorted(("USDT", "BUSD", "USDC", "FDUSD", "TUSD", "USDP", "PAX", "DAI", "BTC", "ETH", "BNB", "XRP",
                       "TRX", "DOGE", "DOT", "SOL", "EUR", "GBP", "TRY", "BRL", "AUD", "RUB", "UAH", "NGN", "ZAR",
                       "BIDR", "IDRT", "ARS", "PLN", "RON", "JPY", "MXN", "CZK", "COP", "EURI", "AEUR", "UST",
                       "VAI", "USDS", "BKRW", "BVND", "GYEN"), key=len, reverse=True))
# The statement and the deposit/withdrawal histories may write the year with two digits, year first, to the second:
# '21-01-24 22:24:15' is 2021-01-24 (BittyTax binance/utils.py get_timestamp prefixes '20'; a public converter of
# Binance's newer statement, convert_binance_csv.py, reads 'YY-MM-DD HH:MM:SS' with '%y-%m-%d %H:%M:%S'). It is the
# venue's notation, not a spreadsheet's two-digit year: dialect.py leaves it to the parser (TWO_DIGIT_YEAR_NATIVE).
TWO_DIGIT_YEAR = re.compile(r"\d{2}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
TWO_DIGIT_YEAR_NATIVE = Native(dates=TWO_DIGIT_YEAR)


def with_century(text: str) -> str:
    """'21-01-24 22:24:15' → '2021-01-24 22:24:15'; any other text as it is."""
    return "20" + text.strip() if TWO_DIGIT_YEAR.fullmatch(text.strip()) else text


_NUMBER_PREFIX = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SIDES = {"buy": "buy", "sell": "sell"}


def _date_column(keys: tuple[str, ...]) -> tuple[int, tzinfo] | None:
    for index, key in enumerate(keys):
        match = _DATE.fullmatch(key)
        if match:
            sign, hours, minutes = match.groups()
            if not sign:
                return index, UTC
            offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
            return index, timezone(-offset if sign == "-" else offset)
    return None


def matches(keys: tuple[str, ...]) -> bool:
    return _date_column(keys) is not None and any(set(v) <= set(keys) for v in (_VARIANT_A, _VARIANT_B, _VARIANT_C))


def split_market(market: str) -> tuple[str, str]:
    """'BTCUSDT' → ('BTC', 'USDT'): the longest known quote that ends the market, with something before it."""
    for quote in QUOTES:
        if market.endswith(quote) and len(market) > len(quote):
            return market[:-len(quote)], quote
    raise RowError(f"Market: '{market}' does not end with a known quote asset ({', '.join(sorted(QUOTES))})")


def _split_pair(pair: str, executed: str, amount: str) -> tuple[str, str]:
    """Pair 'BTCUSDT' + units of Executed ('…BTC') and Amount ('…USDT') → ('BTC', 'USDT').

    Tried at every split point of Pair, so codes with digits (1INCH, 1000SATS) are not confused with the
    number in front of them."""
    found = []
    for i in range(1, len(pair)):
        base, quote = pair[:i], pair[i:]
        if (executed.upper().endswith(base) and amount.upper().endswith(quote)
                and _NUMBER_PREFIX.fullmatch(executed[:-len(base)].strip())
                and _NUMBER_PREFIX.fullmatch(amount[:-len(quote)].strip())):
            found.append((base, quote))
    if len(found) == 1:
        return found[0]
    if not found:
        raise RowError(f"Executed/Amount: units of '{executed}' and '{amount}' do not split Pair '{pair}' "
                       "into base and quote (expected e.g. '0.001BTC' and '62.0USDT' for BTCUSDT)")
    raise RowError(f"Executed/Amount: '{executed}' and '{amount}' split Pair '{pair}' in several ways")


def _fee(cell: str, known: tuple[str, ...]) -> tuple[str, str | None]:
    """'0.00000100BTC' → ('0.00000100', 'BTC'); the trade's own assets and BNB are tried first."""
    upper = cell.upper()
    for asset in (*known, "BNB"):
        if upper.endswith(asset) and _NUMBER_PREFIX.fullmatch(cell[:-len(asset)].strip()):
            return cell[:-len(asset)], asset
    match = re.fullmatch(r"(.*?\d)\s*([A-Za-z][A-Za-z0-9]*)", cell)
    if match:
        return match.group(1), match.group(2).upper()
    return cell, None


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    date = _date_column(header.keys)
    assert date is not None
    date_index, zone = date
    date_name = header.names[date_index]
    col = {name: header.find(name) for name in (*_VARIANT_A, *_VARIANT_B, *_VARIANT_C)}
    variant_b = set(_VARIANT_B) <= set(header.keys)
    variant_c = not variant_b and set(_VARIANT_C) <= set(header.keys) and "pair" not in header.keys

    def handle(row: Row) -> ImportedRecord:
        occurred = parse_time(row.get(date_index), date_name, naive=zone, missing_zone="", now=options.now)
        pair = parse_asset(row.get(col["market" if variant_c else "pair"]), "Market" if variant_c else "Pair")
        if variant_b or variant_c:
            if variant_c:
                base, quote = split_market(pair)
            else:
                base, quote = parse_asset(row.get(col["base asset"]), "Base Asset"), parse_asset(
                    row.get(col["quote asset"]), "Quote Asset")
            if pair != base + quote:
                raise RowError(f"Pair: '{pair}' is not Base Asset + Quote Asset ('{base}' + '{quote}')")
            side_text = row.get(col["type"])
            quantity = parse_decimal(row.get(col["amount"]), "Amount")
            cost = parse_decimal(row.get(col["total"]), "Total")
            fee = parse_decimal(row.get(col["fee"]), "Fee", sign="nonnegative", required=False)
            fee_asset = parse_asset(row.get(col["fee coin"]), "Fee Coin") if row.get(col["fee coin"]) else None
        else:
            executed, amount = row.get(col["executed"]), row.get(col["amount"])
            base, quote = _split_pair(pair, executed, amount)
            side_text = row.get(col["side"])
            quantity = parse_decimal(executed[:-len(base)], "Executed")
            cost = parse_decimal(amount[:-len(quote)], "Amount")
            fee_cell = row.get(col["fee"])
            fee_text, fee_asset = _fee(fee_cell, (base, quote))
            fee = parse_decimal(fee_text, "Fee", sign="nonnegative", required=False)
            if fee_asset is not None:
                fee_asset = parse_asset(fee_asset, "Fee")
            elif fee:
                raise RowError(f"Fee: '{fee_cell}' has no asset unit (expected e.g. '0.001BNB')")
        if fee is not None and fee_asset is None and fee != 0:
            raise RowError("Fee Coin: empty while Fee is not zero")
        side = _SIDES.get(side_text.lower())
        if side is None:
            raise RowError(f"{'Type' if variant_b or variant_c else 'Side'}: '{side_text}' is not BUY or SELL")
        price = parse_decimal(row.get(col["price"]), "Price")
        return ImportedRecord(
            lines=(row.line,), record_type="trade", occurred_at=occurred, base_asset=base, quote_asset=quote,
            side=side, quantity=quantity, price=price, cost=cost, fee_amount=fee, fee_asset=fee_asset,
            payload=row.payload)

    return run_rows(FORMAT, Reader(lines, header), handle)
