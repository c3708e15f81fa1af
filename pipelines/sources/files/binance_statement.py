"""Binance "Transaction History" statement (binance_statement): every balance change of every Binance wallet.

Layout (Binance: Orders → Transaction History → Export, "Generate all statements"; the same columns in
BittyTax's src/bittytax/conv/parsers/binance/data_parsers.py and parse_binance_statements.py):
    User_ID,UTC_Time,Account,Operation,Coin,Change,Remark          (older exports)
    User ID,Time,Account,Operation,Coin,Change,Remark              (exports since about 2023)
UTC_Time is UTC ('2024-03-01 10:00:00'; some exports write the year with two digits, '24-03-01 10:00:00').
The newer `Time` is in the time zone chosen when exporting, which only the file name states
('Binance-Transaction-History-202604281735(UTC+2).csv'): public parsers of real exports read the offset from
the name, and a real P2P line '25-03-18 15:01:04' of a '(UTC+7)' file is the API's order of 2025-03-18 07:59
UTC (see FILE_ZONE). Without the name (or --timezone) such a file's times are not guessed: every line is
rejected with that reason.
Date order: year first, always ('25-03-18' is 2025-03-18). Real samples agree (the P2P line above; exports
dated '25-10-11' beside the same trades in the Spot Trade History '2025-10-11'); a parser that hands '25-01-19' to
dateutil without yearfirst reads 2019-01-25, which is the day-first reading some BittyTax versions produced and
its forks fixed with an explicit '%y-%m-%d'.
Change is signed: what the wallet (Account) gained or lost. One line is one balance change, so a trade is
several lines at the same second (Buy/Sell/Transaction * legs and a Fee leg), a convert two lines, and a
small-assets exchange one line per coin swept plus one BNB line.

What each operation becomes (OPERATIONS below; anything else is rejected with its name):
  trade legs at the same second and wallet → one trade (fills of that second summed: their quantities and
      costs add up exactly; the price is cost / quantity); legs of two different trades in one second cannot
      be told apart and are rejected together, with the reason;
  converts (Binance Convert, Large OTC, Auto-Invest, …) → one trade, without a fee (the spread is in the rate);
  small assets → BNB: one sale per coin swept, the BNB received split equally (the statement does not say how
      it divides; the split adds up to the BNB line exactly — the same choice as BittyTax);
  deposits → deposit; withdrawals → withdrawal of the whole debit (Binance writes "Withdraw fee is included":
      the statement does not separate the network fee);
  rewards, interest, staking, airdrops, distributions, launchpool, cashback, referral → income;
  moves between the account's own spot-like wallets (Spot, Funding, Earn, Savings, Pool, Card; Simple Earn
      subscriptions and redemptions, staking purchases) → ignored, they change no holding;
  every line of a futures, options or margin wallet (PnL, funding, their fees) → ignored as derivatives
      (issue 15: never in the spot ledger); the spot side of a transfer to or from such a wallet is a
      withdrawal or deposit of the spot ledger (the coins leave it for a wallet Coinbook does not book).

Why one module of ~350 lines: the operation table and the three ways of pairing legs (trade, convert, dust)
belong together; each pairing is a small function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Context, Decimal

from pipelines.sources.files.binance import with_century
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

FORMAT = "binance_statement"
_REQUIRED = ("utc_time", "account", "operation", "coin", "change")
_TIME = ("utc_time", "time")  # the older header's UTC column, the newer header's zone-of-export column
# '(UTC+2)', '(UTC-5)', '(UTC+5:30)', '(UTC0)' in the export's file name: the zone its `Time` column is in
FILE_ZONE = re.compile(r"\(UTC\s*([+-]?)\s*(\d{1,2})(?::?(\d{2}))?\)", re.IGNORECASE)
NEEDS_ZONE = ("Time: '{text}' is in the time zone chosen when the statement was exported, which only the file "
              "name states (e.g. '…(UTC+2).csv'); import the file under its original name or give --timezone")
_WIDE = Context(prec=60)

# Wallets whose coins the spot ledger books (moves between them change no holding) and wallets it does not.
SPOT_WALLETS = {"spot", "funding", "earn", "savings", "pool", "card", "main"}
DERIVATIVE_WALLETS = {"usd-m futures", "usdt-futures", "usd-mfutures", "coin-m futures", "coin-mfutures",
                      "options", "isolated margin", "cross margin", "crossmargin", "margin", "portfolio margin"}

TRADE_LEG, CONVERT, DUST, DEPOSIT, WITHDRAWAL, INCOME, INTERNAL, WALLET_TRANSFER, LEGACY_TRANSFER = (
    "trade_leg", "convert", "dust", "deposit", "withdrawal", "income", "internal", "wallet_transfer",
    "legacy_transfer")
_FEE_LEGS = {"fee", "transaction fee"}

# Operation (lower case) → (what it is, income kind or why it is ignored).
OPERATIONS: dict[str, tuple[str, str]] = {
    **{op: (TRADE_LEG, "") for op in ("buy", "sell", "fee", "transaction related", "transaction buy",
                                      "transaction spend", "transaction fee", "transaction sold",
                                      "transaction revenue")},
    **{op: (CONVERT, "") for op in ("binance convert", "large otc trading", "stablecoins auto-conversion",
                                    "auto-invest transaction", "eth 2.0 staking", "leverage token redemption",
                                    "token swap - redenomination/rebranding", "buy crypto with card")},
    **{op: (DUST, "") for op in ("small assets exchange bnb",)},
    **{op: (DEPOSIT, "") for op in ("deposit", "fiat deposit")},
    **{op: (WITHDRAWAL, "") for op in ("withdraw", "fiat withdraw", "fiat withdrawal", "send")},
    **{op: (INCOME, "staking") for op in ("staking rewards", "pos savings interest", "eth 2.0 staking rewards",
                                          "simple earn locked rewards", "bnb vault rewards",
                                          "dot slot auction rewards", "launchpool earnings withdrawal")},
    **{op: (INCOME, "interest") for op in ("simple earn flexible interest", "savings interest",
                                           "savings distribution", "launchpool interest")},
    **{op: (INCOME, "airdrop") for op in ("airdrop assets", "distribution", "hodler airdrops distribution",
                                          "megadrop rewards", "launchpool airdrop", "simple earn flexible airdrop",
                                          "token swap - distribution")},
    **{op: (INCOME, "reward") for op in ("commission history", "referral kickback", "referrer rebates",
                                         "commission rebate", "commission fee shared with you",
                                         "referral commission", "cash voucher distribution",
                                         "campaign related reward", "crypto box", "binance card cashback",
                                         "mission reward distribution", "pool distribution")},
    **{op: (INTERNAL, "a move between the account's own Binance wallets (Spot, Funding, Earn): no holding changes")
       for op in ("transfer between main and funding wallet", "simple earn flexible subscription",
                  "simple earn flexible redemption", "simple earn locked subscription",
                  "simple earn locked redemption", "staking purchase", "staking redemption", "savings purchase",
                  "savings principal redemption", "pos savings purchase", "pos savings redemption",
                  "launchpool subscription/redemption")},
    **{op: (WALLET_TRANSFER, "") for op in ("transfer between spot account and um futures account",
                                            "transfer between spot account and cm futures account",
                                            "transfer between main account/futures and margin account")},
    **{op: (LEGACY_TRANSFER, "") for op in ("transfer_in", "transfer_out")},
}
DERIVATIVES = "derivatives: a futures, options or margin wallet's line (PnL, funding, fees, transfers) is not " \
              "in the spot ledger"
_QUOTE_RANK = {**dict.fromkeys(("USD", "EUR", "GBP", "TRY", "BRL", "AUD", "RUB", "UAH", "NGN", "ZAR", "JPY",
                                "PLN", "RON", "CZK", "ARS", "MXN", "COP", "IDR", "BIDR"), 0),
               **dict.fromkeys(("USDT", "FDUSD", "BUSD", "USDC", "TUSD", "DAI", "USDP", "PAX", "EURI", "AEUR"), 1),
               "BTC": 2, "ETH": 3, "BNB": 4}


def matches(keys: tuple[str, ...]) -> bool:
    return any(t in keys for t in _TIME) and all(k in keys for k in _REQUIRED[1:])


def zone_of_file(name: str | None) -> tzinfo | None:
    """The fixed offset a Binance export's file name states ('…(UTC+2).csv'), or None."""
    found = FILE_ZONE.search(name or "")
    if found is None:
        return None
    sign, hours, minutes = found.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return timezone(-offset if sign == "-" else offset) if offset <= timedelta(hours=14) else None


_Key = tuple[str, datetime, str]  # (kind of group, second, wallet or operation)


@dataclass(frozen=True)
class _Leg:
    row: Row
    occurred_at: datetime
    wallet: str
    operation: str
    coin: str
    change: Decimal


def _time(text: str, options: Options) -> datetime:
    # '24-03-01 10:00:00': Binance's two-digit year (binance.TWO_DIGIT_YEAR); the zone is settled in parse()
    return parse_time(with_century(text), "UTC_Time", naive=options.default_tz, missing_zone=NEEDS_ZONE,
                      now=options.now)


def _leg(row: Row, col: dict[str, int | None], options: Options) -> _Leg:
    return _Leg(row, _time(row.get(col["utc_time"]), options), row.get(col["account"]).lower(),
                row.get(col["operation"]).lower(), parse_asset(row.get(col["coin"]), "Coin"),
                parse_decimal(row.get(col["change"]), "Change", sign="nonzero") or Decimal(0))


def _single(leg: _Leg, kind: str, detail: str) -> ImportedRecord:
    """A line that is a record on its own: deposit, withdrawal, income, or the spot side of a wallet transfer."""
    common = {"lines": (leg.row.line,), "occurred_at": leg.occurred_at, "asset": leg.coin,
              "amount": abs(leg.change), "payload": leg.row.payload}
    if kind in (DEPOSIT, INCOME) and leg.change < 0:
        raise RowError(f"Change: '{leg.change}' is negative for a {leg.row.get(leg.row.header.find('operation'))}")
    if kind == WITHDRAWAL and leg.change > 0:
        raise RowError(f"Change: '{leg.change}' is positive for a withdrawal")
    if kind == INCOME:
        return ImportedRecord(record_type="income", income_kind=detail, **common)
    if kind == WALLET_TRANSFER:  # to/from a futures or margin wallet: out of (into) the spot ledger
        return ImportedRecord(record_type="deposit" if leg.change > 0 else "withdrawal", **common)
    return ImportedRecord(record_type="deposit" if kind == DEPOSIT else "withdrawal", **common)


def _trade(legs: list[_Leg], gained: dict[str, Decimal], given: dict[str, Decimal],
           fees: dict[str, Decimal]) -> ImportedRecord:
    (into, received), = gained.items()
    (out, spent), = given.items()
    rank_in, rank_out = _QUOTE_RANK.get(into), _QUOTE_RANK.get(out)
    sell = rank_in is not None and (rank_out is None or rank_in < rank_out)  # what was received is the quote
    base, quantity, quote, cost = (out, spent, into, received) if sell else (into, received, out, spent)
    fee_asset, fee = next(iter(fees.items())) if fees else (None, None)
    ordered = sorted(legs, key=lambda leg: leg.row.line)
    return ImportedRecord(
        lines=tuple(leg.row.line for leg in ordered), record_type="trade",
        occurred_at=min(leg.occurred_at for leg in legs), base_asset=base, quote_asset=quote,
        side="sell" if sell else "buy", quantity=quantity, cost=cost, price=divide(cost, quantity, "price"),
        fee_amount=fee, fee_asset=fee_asset, payload={"rows": [leg.row.payload for leg in ordered]})


def _net(legs: Iterable[_Leg]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Per coin, what the legs gained and what they gave (a coin that nets to zero is in neither)."""
    total: dict[str, Decimal] = {}
    for leg in legs:
        total[leg.coin] = total.get(leg.coin, Decimal(0)) + leg.change
    return ({c: v for c, v in total.items() if v > 0}, {c: -v for c, v in total.items() if v < 0})


def _describe(legs: list[_Leg]) -> str:
    return ", ".join(f"{leg.row.get(leg.row.header.find('operation'))} {leg.change:+} {leg.coin}" for leg in legs)


def pair_trade(legs: list[_Leg]) -> list[ImportedRecord]:
    """The Buy/Sell/Transaction */Fee legs of one second in one wallet → one trade."""
    gained, given = _net(leg for leg in legs if leg.operation not in _FEE_LEGS)
    fee_gained, fees = _net(leg for leg in legs if leg.operation in _FEE_LEGS)
    when = f"{legs[0].occurred_at:%Y-%m-%d %H:%M:%S}"
    if fee_gained:
        raise RowError(f"a Fee leg at {when} is positive ({', '.join(fee_gained)}); a fee is paid, not received")
    if len(gained) != 1 or len(given) != 1:
        raise RowError(f"the trade legs at {when} ({_describe(legs)}) are not one coin given for one coin "
                       "received: more than one trade in the same second (or a lone leg) cannot be paired from "
                       "the statement; import the Spot trade history for that time instead")
    if len(fees) > 1:
        raise RowError(f"the trade legs at {when} pay fees in {len(fees)} coins ({', '.join(fees)}); a trade "
                       "record carries one fee")
    return [_trade(legs, gained, given, fees)]


def pair_convert(legs: list[_Leg]) -> list[ImportedRecord]:
    """A convert's two lines (one coin out, one in) → one trade; the spread is in the rate, there is no fee."""
    gained, given = _net(legs)
    if len(gained) != 1 or len(given) != 1:
        raise RowError(f"the convert lines at {legs[0].occurred_at:%Y-%m-%d %H:%M:%S} ({_describe(legs)}) are not "
                       "one coin given for one coin received")
    return [_trade(legs, gained, given, {})]


def pair_dust(legs: list[_Leg]) -> list[ImportedRecord]:
    """Small assets → BNB: one sale per coin swept; the BNB received split equally (the statement does not
    say how it divides), the last share taking the remainder so the shares add up to the BNB line exactly."""
    when = f"{legs[0].occurred_at:%Y-%m-%d %H:%M:%S}"
    received = [leg for leg in legs if leg.change > 0]
    swept = sorted((leg for leg in legs if leg.change < 0), key=lambda leg: leg.row.line)
    if not received or any(leg.coin != "BNB" for leg in received) or not swept:
        raise RowError(f"the small-assets exchange at {when} ({_describe(legs)}) is not coins swept into BNB")
    if any(leg.coin == "BNB" for leg in swept):
        raise RowError(f"the small-assets exchange at {when} sweeps BNB into BNB")
    total = sum((leg.change for leg in received), Decimal(0))
    share = _WIDE.divide(total, len(swept)).quantize(Decimal("1e-18"), context=_WIDE) if len(swept) > 1 else total
    shares = [share] * (len(swept) - 1) + [total - share * (len(swept) - 1)]
    if any(s <= 0 for s in shares):
        raise RowError(f"the small-assets exchange at {when}: {total} BNB cannot be split over {len(swept)} coins")
    records = []
    for index, (leg, bnb) in enumerate(zip(swept, shares, strict=True)):
        lines = (leg.row.line, *([r.row.line for r in received] if index == 0 else []))  # each line once
        records.append(ImportedRecord(
            lines=tuple(sorted(lines)), record_type="trade", occurred_at=leg.occurred_at, base_asset=leg.coin,
            quote_asset="BNB", side="sell", quantity=-leg.change, cost=bnb, price=divide(bnb, -leg.change, "price"),
            payload={"rows": [leg.row.payload, *[r.row.payload for r in received]], "bnb_total": str(total),
                     "bnb_split": f"equal share of {len(swept)} coins swept"}))
    return records


_PAIRERS = {TRADE_LEG: pair_trade, CONVERT: pair_convert, DUST: pair_dust}


def _classify(leg: _Leg) -> tuple[str, str]:
    if leg.wallet in DERIVATIVE_WALLETS:
        raise Ignore(DERIVATIVES)
    if leg.wallet not in SPOT_WALLETS:
        raise RowError(f"Account: '{leg.row.get(leg.row.header.find('account'))}' is not a known Binance wallet "
                       f"(known: {', '.join(sorted(SPOT_WALLETS | DERIVATIVE_WALLETS))})")
    found = OPERATIONS.get(leg.operation)
    if found is None:
        raise RowError(f"Operation: '{leg.row.get(leg.row.header.find('operation'))}' is not supported")
    if found[0] == INTERNAL:
        raise Ignore(found[1])
    return found


def _legacy_transfer(leg: _Leg, everyone: list[_Leg]) -> ImportedRecord:
    """transfer_in/transfer_out on a spot-like wallet: where it went is the line of the same second and coin with
    the opposite change — another spot-like wallet (ignored) or a derivatives wallet (a movement)."""
    other = [o for o in everyone if o is not leg and o.occurred_at == leg.occurred_at and o.coin == leg.coin
             and o.change == -leg.change and o.operation in ("transfer_in", "transfer_out")]
    if not other:
        raise RowError(f"{leg.operation}: no counterpart line (the same second, {leg.coin} {-leg.change:+}) in the "
                       "file, so which wallet it moved to is unknown")
    if other[0].wallet in SPOT_WALLETS:
        raise Ignore(OPERATIONS["transfer between main and funding wallet"][1])
    return _single(leg, WALLET_TRANSFER, "")


def parse(lines: list[str], header: Header, options: Options) -> ParseResult:
    col = {name: header.find(name) for name in _REQUIRED}
    if col["utc_time"] is None:  # the newer header: `Time`, in the zone of the export
        col["utc_time"] = header.find("time")
        options = replace(options, default_tz=options.default_tz or zone_of_file(options.file_name))
    else:
        options = replace(options, default_tz=UTC)
    reader = Reader(lines, header)
    records: list[ImportedRecord] = []
    groups: dict[_Key, list[_Leg]] = {}
    broken: dict[_Key, int] = {}  # group → line of a leg that was rejected
    legacy: list[_Leg] = []
    every: list[_Leg] = []
    for row in reader.rows():
        try:
            leg = _leg(row, col, options)
            every.append(leg)
            kind, detail = _classify(leg)
            if kind in _PAIRERS:
                groups.setdefault(_group_key(kind, leg), []).append(leg)
            elif kind == LEGACY_TRANSFER:
                legacy.append(leg)
            else:
                records.append(_single(leg, kind, detail))
        except Ignore as exc:
            reader.ignored.append((row.line, str(exc)))
        except RowError as exc:
            reader.reject(row.line, str(exc), row.payload)
            _note_broken(row, col, options, broken)
        except Exception as exc:  # a parser bug must not lose the rest of the file
            reader.reject(row.line, f"unexpected error while reading this row: {type(exc).__name__}: {exc}",
                          row.payload)
    for leg in legacy:
        _outcome(reader, records, [leg], lambda legs: [_legacy_transfer(legs[0], every)])
    for key, legs in _join_straddling(groups).items():
        if key in broken:
            for leg in legs:
                reader.reject(leg.row.line, f"a leg of the {key[0].replace('_leg', '')} at {key[1]:%Y-%m-%d %H:%M:%S} "
                              f"whose other leg (line {broken[key]}) was rejected", leg.row.payload)
            continue
        _outcome(reader, records, legs, _PAIRERS[key[0]])
    return reader.result(FORMAT, records)


def _join_straddling(groups: dict[_Key, list[_Leg]]) -> dict[_Key, list[_Leg]]:
    """A trade whose legs straddle a second (its bought legs at :07, its paid legs at :08) is one trade: a one-sided
    group is joined to the next second's group of the same wallet when that one is one-sided the other way."""
    out = dict(groups)
    for key in sorted(groups, key=lambda k: (k[0], k[2], k[1])):
        if key[0] != TRADE_LEG or key not in out:
            continue
        after = (key[0], key[1] + timedelta(seconds=1), key[2])
        if after not in out:
            continue
        mine, theirs = (_net(leg for leg in out[k] if leg.operation not in _FEE_LEGS) for k in (key, after))
        if (bool(mine[0]), bool(mine[1])) in ((True, False), (False, True)) and \
                (bool(theirs[0]), bool(theirs[1])) == (bool(mine[1]), bool(mine[0])):
            out[key] = out[key] + out.pop(after)
    return out


def _group_key(kind: str, leg: _Leg) -> _Key:
    # Trades pair within a wallet; a convert or dust sweep by its operation (their lines may sit in two wallets).
    return kind, leg.occurred_at, leg.wallet if kind == TRADE_LEG else leg.operation


def _note_broken(row: Row, col: dict[str, int | None], options: Options,
                 broken: dict[_Key, int]) -> None:
    """A rejected line that was a trade/convert/dust leg breaks its group: the others cannot be paired."""
    found = OPERATIONS.get(row.get(col["operation"]).lower())
    if found is None or found[0] not in _PAIRERS:
        return
    try:
        occurred = _time(row.get(col["utc_time"]), options)
    except RowError:
        return  # no time, no group: its partners are rejected as lone legs if they are
    wallet, operation = row.get(col["account"]).lower(), row.get(col["operation"]).lower()
    key = (found[0], occurred, wallet if found[0] == TRADE_LEG else operation)
    broken.setdefault(key, row.line)


def _outcome(reader: Reader, records: list[ImportedRecord], legs: list[_Leg], pair: object) -> None:
    try:
        records.extend(pair(legs))  # type: ignore[operator]
    except Ignore as exc:
        for leg in legs:
            reader.ignored.append((leg.row.line, str(exc)))
    except RowError as exc:
        for leg in legs:
            reader.reject(leg.row.line, str(exc), leg.row.payload)
