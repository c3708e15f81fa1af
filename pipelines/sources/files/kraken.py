"""Kraken "Ledgers" export (kraken_ledgers).

Columns "txid","refid","time","type","subtype","aclass","asset","wallet","amount","fee","balance" (older
exports lack wallet, newer ones add amountusd). Times are UTC (Kraken's documentation says so). Each line is
one balance change of one asset; a trade is two lines sharing its refid (the trade id the API returns): the
negative amount is what was given, the positive what was received. Both become one trade record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

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
    parse_time,
)

FORMAT = "kraken_ledgers"
_REQUIRED = ("txid", "refid", "time", "type", "asset", "amount", "fee")
_TRADE_TYPES = ("trade", "spend", "receive")  # spend/receive: Kraken's "Buy Crypto" conversions
# Moves between the account's own Kraken wallets (spot ↔ staking/earn): the same asset, nothing gained or lost.
_WALLET_MOVES = {"spottostaking", "stakingfromspot", "stakingtospot", "spotfromstaking"}
_EARN_MOVES = {"allocation", "deallocation", "autoallocation", "migration"}
# Kraken's legacy X/Z-prefixed ids: XXBT, XETH, ZUSD, XXDG…; the prefix goes when the rest is one of these.
_LEGACY = {"XBT", "ETH", "ETC", "LTC", "MLN", "REP", "XLM", "XMR", "XRP", "ZEC", "XDG", "NMC", "ICN",
           "USD", "EUR", "GBP", "CAD", "JPY", "AUD", "CHF"}
_RENAMED = {"XBT": "BTC", "XDG": "DOGE"}  # ccxt's unified codes
_STAKED_SUFFIXES = (".S", ".F", ".B", ".M")  # staked / opt-in rewards / bonded / earn balances of the same asset
# Which side of a pair is the quote: fiat first, then stablecoins, then BTC, then ETH (as Kraken's own pairs).
_QUOTE_RANK = {**dict.fromkeys(("USD", "EUR", "GBP", "CAD", "CHF", "JPY", "AUD"), 0),
               **dict.fromkeys(("USDT", "USDC", "DAI"), 1), "BTC": 2, "ETH": 3}


def kraken_asset(text: str, column: str = "asset") -> str:
    """Kraken's asset id → the unified code: XXBT/XBT → BTC, ZUSD → USD, XXDG → DOGE, DOT.S → DOT."""
    code = parse_asset(text, column)
    for suffix in _STAKED_SUFFIXES:
        if code.endswith(suffix) and len(code) > len(suffix):
            code = code.removesuffix(suffix)
    if len(code) == 4 and code[0] in "XZ" and code[1:] in _LEGACY:
        code = code[1:]
    return _RENAMED.get(code, code)


def matches(keys: tuple[str, ...]) -> bool:
    return all(k in keys for k in _REQUIRED)


@dataclass(frozen=True)
class _Leg:
    row: Row
    occurred_at: datetime
    asset: str
    amount: Decimal
    fee: Decimal


def _trade(refid: str, legs: list[_Leg]) -> ImportedRecord:
    """Two ledger lines of one trade → the trade: the quote is the fiat/stable (or BTC, ETH) side."""
    if len(legs) != 2:
        raise RowError(f"refid {refid} has {len(legs)} trade lines; a trade has exactly 2")
    given = [leg for leg in legs if leg.amount < 0]
    received = [leg for leg in legs if leg.amount > 0]
    if len(given) != 1 or len(received) != 1 or given[0].asset == received[0].asset:
        raise RowError(f"the 2 trade lines of refid {refid} must be one negative and one positive amount "
                       "of different assets")
    out, into = given[0], received[0]
    rank_out, rank_in = _QUOTE_RANK.get(out.asset), _QUOTE_RANK.get(into.asset)
    if rank_out is not None and (rank_in is None or rank_out < rank_in):
        base, quote = into, out
    elif rank_in is not None and (rank_out is None or rank_in < rank_out):
        base, quote = out, into
    else:  # no known quote side: what was bought is the base
        base, quote = into, out
    charged = [leg for leg in legs if leg.fee != 0]
    if len(charged) > 1:
        raise RowError(f"both trade lines of refid {refid} carry a fee; a trade has one")
    fee_leg = charged[0] if charged else quote
    quantity, cost = abs(base.amount), abs(quote.amount)
    ordered = sorted(legs, key=lambda leg: leg.row.line)
    return ImportedRecord(
        lines=tuple(leg.row.line for leg in ordered), record_type="trade",
        occurred_at=min(leg.occurred_at for leg in legs), base_asset=base.asset, quote_asset=quote.asset,
        side="buy" if base is into else "sell", quantity=quantity, cost=cost, price=divide(cost, quantity, "price"),
        fee_amount=fee_leg.fee, fee_asset=fee_leg.asset, venue_record_id=refid,
        payload={"rows": [leg.row.payload for leg in ordered]})


def _handle(row: Row, col: dict[str, int | None], options: Options) -> ImportedRecord | _Leg:
    """One ledger line: a record of its own, or one leg of a trade (paired by refid afterwards)."""
    kind, subtype = row.get(col["type"]).lower(), row.get(col["subtype"]).lower()
    refid = row.get(col["refid"])
    if kind == "transfer" and subtype in _WALLET_MOVES:
        raise Ignore(f"transfer '{subtype}' moves the asset between the account's own Kraken wallets")
    if kind == "earn" and subtype in _EARN_MOVES:
        raise Ignore(f"earn '{subtype}' moves the asset between the account's own Kraken wallets")
    occurred = parse_time(row.get(col["time"]), "time", naive=UTC, missing_zone="", now=options.now)
    asset = kraken_asset(row.get(col["asset"]))
    amount = parse_decimal(row.get(col["amount"]), "amount", sign="nonzero")
    fee = parse_decimal(row.get(col["fee"]), "fee", sign="nonnegative", required=False) or Decimal(0)
    assert amount is not None
    common = {"lines": (row.line,), "occurred_at": occurred, "asset": asset, "amount": abs(amount),
              "fee_amount": fee, "fee_asset": asset, "venue_record_id": refid or None, "payload": row.payload}
    if kind in _TRADE_TYPES:
        if not refid:
            raise RowError("refid: empty (a trade line is matched to its counterpart by refid)")
        return _Leg(row, occurred, asset, amount, fee)
    if kind == "deposit":
        if amount < 0:
            raise RowError(f"amount: '{row.get(col['amount'])}' is negative; a deposit must be positive")
        return ImportedRecord(record_type="deposit", **common)
    if kind == "withdrawal":
        if amount > 0:
            raise RowError(f"amount: '{row.get(col['amount'])}' is positive; a withdrawal must be negative")
        return ImportedRecord(record_type="withdrawal", **common)
    if kind in ("staking", "earn"):
        if amount < 0:
            raise RowError(f"amount: '{row.get(col['amount'])}' is negative for a {kind} reward")
        return ImportedRecord(record_type="income", income_kind="staking", **common)
    if kind == "transfer":
        raise RowError(f"subtype: transfer '{subtype}' is not supported (only moves between spot and staking)")
    raise RowError(f"type: '{row.get(col['type'])}' is not supported "
                   "(known: trade, spend, receive, deposit, withdrawal, staking, earn, transfer)")


def _pair_legs(reader: Reader, legs: dict[str, list[_Leg]], broken: dict[str, int]) -> list[ImportedRecord]:
    """Each refid's two trade lines as one trade; a lone leg, or one whose counterpart was rejected, is
    rejected with the reason."""
    records = []
    for refid, group in legs.items():
        if refid in broken:
            for leg in group:
                reader.reject(leg.row.line, f"trade line whose counterpart (line {broken[refid]}) was rejected "
                              f"(refid {refid})", leg.row.payload)
            continue
        if len(group) == 1:
            reader.reject(group[0].row.line, f"trade leg without its counterpart (refid {refid})",
                          group[0].row.payload)
            continue
        try:
            records.append(_trade(refid, group))
        except RowError as exc:
            for leg in group:
                reader.reject(leg.row.line, str(exc), leg.row.payload)
    return records


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in (*_REQUIRED, "subtype")}
    reader = Reader(lines, header)
    records: list[ImportedRecord] = []
    legs: dict[str, list[_Leg]] = {}  # refid → trade lines, in file order
    broken: dict[str, int] = {}  # refid → line of a trade line that was rejected
    for row in reader.rows():
        try:
            outcome = _handle(row, col, options)
        except RowError as exc:
            reader.reject(row.line, str(exc), row.payload)
            if row.get(col["type"]).lower() in _TRADE_TYPES and row.get(col["refid"]):
                broken.setdefault(row.get(col["refid"]), row.line)
            continue
        except Ignore as exc:
            reader.ignored.append((row.line, str(exc)))
            continue
        except Exception as exc:  # a parser bug must not lose the rest of the file
            reader.reject(row.line, f"unexpected error while reading this row: {type(exc).__name__}: {exc}",
                          row.payload)
            continue
        if isinstance(outcome, _Leg):
            legs.setdefault(outcome.row.get(col["refid"]), []).append(outcome)
        else:
            records.append(outcome)
    return reader.result(FORMAT, records + _pair_legs(reader, legs, broken))
