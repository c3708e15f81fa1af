"""The CSV exports a client downloads from each venue's website, for an account of the sandbox world.

Pure functions (world → text), in the formats pipelines/sources/files parses. The ids in them are the ones
the same venue's API serves (Kraken's trade refid = the TradesHistory key, a deposit's refid = the
DepositStatus refid; Coinbase's ID = the fill's trade_id or the v2 transaction id), so an importer can tell
a record it already has from the API. Binance's trade history file carries no id at all, as the real one.

Times are what each file shows: Binance and Coinbase to the second, Kraken to 1/10000 s. Amounts are
exact: the real Coinbase report rounds money to cents, the sandbox keeps every digit so that the file and
the API agree to the last decimal.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from sandbox.coinbase import _uuid
from sandbox.kraken import ASSET_ID, _txid, transfer_json
from sandbox.world import Trade, Transfer, World

FIAT = ("USD",)
CENT = Decimal("0.01")


def _in_range(time_ms: int, start_ms: int | None, end_ms: int | None) -> bool:
    return (start_ms is None or time_ms >= start_ms) and (end_ms is None or time_ms <= end_ms)


def _trades(world: World, account_id: str, start_ms: int | None, end_ms: int | None) -> list[Trade]:
    return [t for t in world.trades[account_id] if _in_range(t.time_ms, start_ms, end_ms)]


def _transfers(world: World, account_id: str, start_ms: int | None, end_ms: int | None) -> list[Transfer]:
    # Only completed transfers: a website's history shows what happened (Kraken's ledger has nothing else).
    return [t for t in world.transfers[account_id] if t.status == "ok" and _in_range(t.time_ms, start_ms, end_ms)]


def _padded(value: Decimal, places: int) -> str:
    """At least `places` decimals, as the venues print them, but never fewer than the value has."""
    exponent = int(value.as_tuple().exponent)
    return f"{value:.{max(places, -exponent)}f}"


def _seconds(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC)


# ── Binance: Spot order history → Trade History ───────────────────────────────────────────────────────────
def binance_trade_history_csv(world: World, account_id: str, start_ms: int | None = None,
                              end_ms: int | None = None) -> str:
    """Date(UTC),Pair,Side,Price,Executed,Amount,Fee — newest first, units glued to the numbers."""
    lines = ["Date(UTC),Pair,Side,Price,Executed,Amount,Fee"]
    for t in sorted(_trades(world, account_id, start_ms, end_ms), key=lambda t: (t.time_ms, t.id), reverse=True):
        market = world.market_of(t)
        lines.append(",".join((
            f"{_seconds(t.time_ms):%Y-%m-%d %H:%M:%S}", market.symbol, "BUY" if t.is_buyer else "SELL",
            f"{t.price:f}", _padded(t.qty, 8) + market.base, _padded(t.quote_qty, 8) + market.quote,
            _padded(t.commission, 8) + t.commission_asset)))
    return "\r\n".join(lines) + "\r\n"


# ── Binance: Orders → Transaction History → Export (the statement) ───────────────────────────────────────
def binance_statement_csv(world: World, account_id: str, start_ms: int | None = None,
                          end_ms: int | None = None) -> str:
    """User_ID,UTC_Time,Account,Operation,Coin,Change,Remark — one line per balance change of the Spot wallet: a
    fill's Buy/Sell legs in the base and the quote and its Fee leg, a deposit, a withdrawal as its whole debit
    ("Withdraw fee is included"). Times to the second, as the statement shows them."""
    lines = ["User_ID,UTC_Time,Account,Operation,Coin,Change,Remark"]
    user = int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16) % 10**8

    def line(ms: int, operation: str, coin: str, change: Decimal, remark: str = "") -> tuple[int, str]:
        return ms, f"{user},{_seconds(ms):%Y-%m-%d %H:%M:%S},Spot,{operation},{coin},{change:f},{remark}"

    rows: list[tuple[int, str]] = []
    for t in _trades(world, account_id, start_ms, end_ms):
        market, op = world.market_of(t), "Buy" if t.is_buyer else "Sell"
        rows.append(line(t.time_ms, op, market.base, t.qty if t.is_buyer else -t.qty))
        rows.append(line(t.time_ms, op, market.quote, -t.quote_qty if t.is_buyer else t.quote_qty))
        if t.commission:
            rows.append(line(t.time_ms, "Fee", t.commission_asset, -t.commission))
    for x in _transfers(world, account_id, start_ms, end_ms):
        if x.kind == "deposit":
            rows.append(line(x.time_ms, "Deposit", x.coin, x.amount))
        else:
            rows.append(line(x.time_ms, "Withdraw", x.coin, -(x.amount + x.fee), "Withdraw fee is included"))
    return "\r\n".join([lines[0], *(text for _, text in sorted(rows, key=lambda r: r[0]))]) + "\r\n"


# ── Kraken: History → Export → Ledgers ────────────────────────────────────────────────────────────────────
def _ledger_id(refid: str, leg: str) -> str:
    return _txid("L", int(hashlib.sha256(f"{refid}:{leg}".encode()).hexdigest()[:12], 16))


def kraken_ledgers_csv(world: World, account_id: str, start_ms: int | None = None, end_ms: int | None = None) -> str:
    """One quoted line per balance change, oldest first; a trade is two lines sharing the trade's id as refid.

    The fee is charged on the line of the asset it is paid in (for Kraken: the quote), as Kraken does."""
    events: list[tuple[int, int, str, list[tuple[str, str, Decimal, Decimal]]]] = []
    for t in _trades(world, account_id, start_ms, end_ms):
        market = world.market_of(t)
        sign = 1 if t.is_buyer else -1
        # Kraken takes its fee in one of the two assets traded (the sandbox's rule: the quote).
        assert t.commission_asset in (market.base, market.quote), t
        legs = [("trade", leg_asset, amount, t.commission if t.commission_asset == leg_asset else Decimal(0))
                for leg_asset, amount in ((market.base, sign * t.qty), (market.quote, -sign * t.quote_qty))]
        events.append((t.time_ms, 0, _txid("T", t.id), legs))
    for tr in _transfers(world, account_id, start_ms, end_ms):
        amount = tr.amount if tr.kind == "deposit" else -tr.amount
        events.append((tr.time_ms, 1, transfer_json(tr)["refid"], [(tr.kind, tr.coin, amount, tr.fee)]))
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    balances: dict[str, Decimal] = defaultdict(Decimal)
    lines = ['"txid","refid","time","type","subtype","aclass","asset","wallet","amount","fee","balance"']
    for time_ms, _order, refid, legs in events:
        when = f"{_seconds(time_ms):%Y-%m-%d %H:%M:%S}.{time_ms % 1000:03d}0"
        for n, (kind, asset, amount, fee) in enumerate(legs):
            places = 4 if asset in FIAT else 10
            balances[asset] += amount - fee
            cells = (_ledger_id(refid, str(n)), refid, when, kind, "", "currency", ASSET_ID.get(asset, asset),
                     "spot / main", _padded(amount, places), _padded(fee, places), _padded(balances[asset], places))
            lines.append(",".join(f'"{c}"' for c in cells))
    return "\n".join(lines) + "\n"


# ── Coinbase: Reports → Transaction history ───────────────────────────────────────────────────────────────
def _money(value: Decimal, currency: str) -> str:
    """'$62,000.01', '-$1.50' for dollars; a plain number for a crypto quote."""
    places = max(2, -int(value.as_tuple().exponent))
    text = f"{abs(value):,.{places}f}" if currency in FIAT else f"{abs(value):.{places}f}"
    return ("-" if value < 0 else "") + ("$" + text if currency in FIAT else text)


def _csv_cell(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ',"') else text


def coinbase_transactions_csv(world: World, account_id: str, start_ms: int | None = None,
                              end_ms: int | None = None) -> str:
    """The new report: a preamble, then one line per fill or transfer, oldest first.

    Fills are 'Advanced Trade Buy/Sell' against their product's quote (Price Currency = quote); their ID is
    the fill's trade_id. Transfers carry the v2 transaction id; their money columns are in USD."""
    account = world.accounts[account_id]
    rows: list[tuple[int, list[str]]] = []
    for t in _trades(world, account_id, start_ms, end_ms):
        market = world.market_of(t)
        cost, quote = t.quote_qty, market.quote
        # Coinbase charges the fee in the quote (FEE_RULES): on top of a buy, out of a sale's proceeds.
        total = cost + t.commission if t.is_buyer else cost - t.commission
        verb = "Bought" if t.is_buyer else "Sold"
        rows.append((t.time_ms, [
            str(t.id), f"{_seconds(t.time_ms):%Y-%m-%d %H:%M:%S} UTC",
            "Advanced Trade Buy" if t.is_buyer else "Advanced Trade Sell", market.base,
            f"{t.qty if t.is_buyer else -t.qty:f}", quote, _money(t.price, quote), _money(cost, quote),
            _money(total, quote), _money(t.commission, quote),
            f"{verb} {t.qty:f} {market.base} for {cost:f} {quote} on {market.symbol} at {t.price:f} "
            f"{quote}/{market.base}"]))
    for tr in _transfers(world, account_id, start_ms, end_ms):
        hour = world.prices.hour_of(tr.time_ms)
        price = Decimal(repr(world.prices.coin_usd(tr.coin, hour))).quantize(CENT)
        signed = tr.amount if tr.kind == "deposit" else -tr.amount
        fiat = tr.coin in FIAT
        if tr.kind == "deposit":
            kind, notes = ("Deposit", "Deposit from bank account") if fiat else (
                "Receive", f"Received {tr.amount:f} {tr.coin} from an external account")
        else:
            kind, notes = ("Withdrawal", "Withdrawal to bank account") if fiat else (
                "Send", f"Sent {tr.amount:f} {tr.coin} to {tr.address}")
        # A withdrawal's quantity is the wallet's whole debit, fee included, as the v2 transaction's amount is
        # (sandbox/coinbase.py transaction_json): Subtotal is what left net of the fee, Total the debit, and
        # Fees what the fee was worth in the report's currency (for a Send: the coin's network fee at the price).
        debit = signed - tr.fee if tr.kind == "withdrawal" else signed
        subtotal = (signed * price).quantize(CENT)
        fee = (tr.fee * price).quantize(CENT)
        rows.append((tr.time_ms, [
            _uuid("tx", tr.id), f"{_seconds(tr.time_ms):%Y-%m-%d %H:%M:%S} UTC", kind, tr.coin, f"{debit:f}",
            "USD", _money(price, "USD"), _money(subtotal, "USD"),
            _money(subtotal - fee if tr.kind == "withdrawal" else subtotal, "USD"), _money(fee, "USD"), notes]))
    rows.sort(key=lambda r: r[0])
    lines = [
        '"You can use this transaction report to inform your likely tax obligations. For US customers, Sells, '
        'Converts, Rewards Income, and Coinbase Earn transactions are taxable events. For final tax obligations, '
        'please consult your tax advisor."',
        "",
        "Transactions",
        f"User,{_csv_cell(account.display_name)},{_uuid('user', account_id)}",
        "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,Price at Transaction,Subtotal,"
        "Total (inclusive of fees and/or spread),Fees and/or Spread,Notes",
    ]
    lines += [",".join(_csv_cell(c) for c in cells) for _, cells in rows]
    return "\n".join(lines) + "\n"
