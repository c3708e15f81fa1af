"""HTX (formerly Huobi) spot REST, as far as ccxt's `htx` class uses it for an account's books.

HTX's own conventions, kept: lower-case symbols and currencies ('btcusdt', 'usdt'), answers
{"status": "ok", "data": ...} (v2: {"code": 200, ...}), signature version 2 (HMAC-SHA256 over
"METHOD\\nhost\\npath\\nsorted query" in the query string, host = api.huobi.pro, Timestamp within 5 minutes
of the real clock), a spot account id to look up before asking for balances, and the history limits of the
real API: own trades only within 120 days and 48 hours per query (at most 500, `from`/`direct` cursor by
record id), deposits and withdrawals paged by id (at most 100), candles at most 1000 (history) / 2000 a call.

The sandbox's HTX clock is the world's end (or the latest activity after it): its 120 days are counted
from there, so the demo world keeps its meaning whatever the date the sandbox runs on.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus, urlencode

from sandbox import books
from sandbox.binance import Request, candles, rising
from sandbox.matching import EngineOrder, OrderRefused
from sandbox.orders import desk
from sandbox.world import END_MS, NETWORK, START_MS, Market, Trade, Transfer, WalletMove, World

PREFIX = "htx"
HOST = "api.huobi.pro"  # what ccxt signs, whatever host it really talks to
DAY_MS = 86_400_000
TRADE_HISTORY_MS = 120 * DAY_MS
TRADE_WINDOW_MS = 2 * DAY_MS
MAX_TRADES, MAX_TRANSFERS, MAX_LEDGER = 500, 100, 500
LEDGER_WINDOW_MS, LEDGER_HISTORY_MS = 10 * 86_400_000, 180 * 86_400_000
PERIODS = {"1min": "1m", "5min": "5m", "15min": "15m", "30min": "30m", "60min": "1h", "4hour": "4h", "1day": "1d"}
DEPOSIT_STATE = {"ok": "safe", "pending": "confirming", "failed": "orphan", "canceled": "orphan"}
WITHDRAW_STATE = {"ok": "confirmed", "pending": "submitted", "failed": "reject", "canceled": "canceled"}


class HtxError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _ok(data: Any, **extra: Any) -> tuple[int, Any]:
    return 200, {"status": "ok", "data": data, **extra}


def _markets(world: World) -> dict[str, Market]:
    return {m.symbol: m for m in world.markets(PREFIX)}


def clock_ms(world: World) -> int:
    # the latest HTX trade, as the world books it (a scan of every HTX account's trades cost each request O(trades))
    latest = world.latest_trade_ms.get(PREFIX, END_MS)
    return max(END_MS, latest + 1000)


def _mid(world: World, m: Market) -> Decimal:
    return Decimal(str(world.prices.market_close(m, world.prices.hours - 1))).quantize(m.tick)


def _account_number(account_id: str) -> int:
    return int(hashlib.sha256(account_id.encode()).hexdigest()[:7], 16)


# ── public ────────────────────────────────────────────────────────────────────────────────────────────────
def symbols(world: World) -> list[dict[str, Any]]:
    return [{"base-currency": m.base.lower(), "quote-currency": m.quote.lower(),
             "price-precision": -m.tick.as_tuple().exponent, "amount-precision": -m.step.as_tuple().exponent,
             "symbol-partition": "main", "symbol": m.symbol, "state": "online", "value-precision": 8,
             "min-order-amt": float(m.step * 10), "max-order-amt": 10000, "min-order-value": float(m.min_notional),
             "leverage-ratio": 1, "api-trading": "enabled"} for m in world.markets(PREFIX)]


def currencies(world: World) -> list[dict[str, Any]]:
    codes = sorted({c for m in world.markets(PREFIX) for c in (m.base, m.quote)})
    return [{"currency": c.lower(), "assetType": 1, "instStatus": "normal",
             "chains": [{"chain": chain_id(c), "displayName": NETWORK[c], "baseChain": NETWORK[c],
                         "baseChainProtocol": "", "isDynamic": False, "numOfConfirmations": 12,
                         "numOfFastConfirmations": 6, "depositStatus": "allowed", "minDepositAmt": "0.0001",
                         "withdrawStatus": "allowed", "minWithdrawAmt": "0.001", "withdrawPrecision": 8,
                         "maxWithdrawAmt": "100000", "withdrawQuotaPerDay": "100000", "transactFeeWithdraw": "0.0001",
                         "withdrawFeeType": "fixed"}]} for c in codes]


def chain_id(coin: str) -> str:
    """HTX's chain ids pair a network with a currency ('trc20usdt'); a coin on its own chain is just its name."""
    return coin.lower() if NETWORK[coin] == coin else f"{NETWORK[coin].lower()}{coin.lower()}"


def ticker(world: World, m: Market) -> dict[str, Any]:
    day = candles(world, m, "1d", None, END_MS, 1)[0]
    last = _mid(world, m)
    spread = m.tick * 2
    return {"symbol": m.symbol, "open": float(day[1]), "high": float(day[2]), "low": float(day[3]),
            "close": float(last), "amount": float(day[5]), "vol": float(day[7]), "count": 1000,
            "bid": float(last - spread), "bidSize": 1.5, "ask": float(last + spread), "askSize": 2.5}


def kline(world: World, params: dict[str, str], *, historical: bool) -> list[dict[str, Any]]:
    """/market/history/kline: the latest `size` (≤ 2000) candles. /market/history/candles (ccxt's default for
    spot): `size` (≤ 1000) candles from `from` and/or up to `to` (seconds). Newest first, as HTX answers."""
    market = _markets(world).get(params.get("symbol", ""))
    if market is None:
        raise HtxError("invalid-parameter", "invalid symbol")
    interval = PERIODS.get(params.get("period", ""))
    if interval is None:
        raise HtxError("invalid-parameter", "invalid period")
    size = int(params.get("size") or 150)
    if not 1 <= size <= (1000 if historical else 2000):
        raise HtxError("invalid-parameter", "invalid size, valid range: [1, 1000]" if historical
                       else "invalid size, valid range: [1, 2000]")
    start = int(params["from"]) * 1000 if historical and params.get("from") else None
    end = int(params["to"]) * 1000 + 999 if historical and params.get("to") else END_MS
    rows = candles(world, market, interval, start, min(end, END_MS), size)
    return [{"id": r[0] // 1000, "open": float(r[1]), "close": float(r[4]), "low": float(r[3]),
             "high": float(r[2]), "amount": float(r[5]), "vol": float(r[7]), "count": 1000} for r in rows[::-1]]


def depth(world: World, params: dict[str, str]) -> dict[str, Any]:
    """step0 (no aggregation) gives 150 levels a side, or `depth` 5/10/20; step1-5 aggregate (same levels here)."""
    market = _markets(world).get(params.get("symbol", ""))
    if market is None:
        raise HtxError("invalid-parameter", "invalid symbol")
    if params.get("type") not in {f"step{i}" for i in range(6)}:
        raise HtxError("invalid-parameter", "invalid type")
    levels = int(params.get("depth") or 150)
    if levels not in (5, 10, 20, 150):
        raise HtxError("invalid-parameter", "invalid depth")
    return books.htx_depth(world, market, levels)


# ── private ───────────────────────────────────────────────────────────────────────────────────────────────
def authenticate(world: World, request: Request) -> str:
    """The account behind a signature-v2 request, or HTX's own refusal (ccxt maps the code to
    AuthenticationError). HTX re-sorts the received parameters and signs "METHOD\\nhost\\npath\\nquery"."""
    pairs = [p.split("=", 1) for p in request.raw_query.split("&") if "=" in p]
    params = {unquote_plus(k): unquote_plus(v) for k, v in pairs}
    signature = params.pop("Signature", "")
    account_id = world.account_by_key(params.get("AccessKeyId", ""), PREFIX)
    if account_id is None:
        raise HtxError("api-signature-not-valid", "Signature not valid: Incorrect Access key [Access key错误]")
    if params.get("SignatureMethod") != "HmacSHA256" or params.get("SignatureVersion") != "2":
        raise HtxError("api-signature-not-valid", "Signature not valid: Verification failure [校验失败]")
    try:  # HTX checks the signed UTC time against its own (real) clock, within 5 minutes
        signed_at = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        signed_at = None
    if signed_at is None or abs(time.time() - signed_at.timestamp()) > 300:
        raise HtxError("api-signature-not-valid", "Signature not valid: Invalid submission time or incorrect "
                                                  "time format [无效的提交时间，或时间格式错误]")
    canonical = urlencode(sorted(params.items()))
    payload = "\n".join([request.method, HOST, request.path, canonical])
    secret = world.secret_of(params.get("AccessKeyId", "")).encode()
    expected = base64.b64encode(hmac.new(secret, payload.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise HtxError("api-signature-not-valid", "Signature not valid: Verification failure [校验失败]")
    return account_id


def balance(world: World, account_id: str) -> dict[str, Any]:
    rows = []
    for asset, amount in sorted(world.reported_balances(account_id).items()):
        rows.append({"currency": asset.lower(), "type": "trade", "balance": str(amount), "seq-num": "1"})
        rows.append({"currency": asset.lower(), "type": "frozen", "balance": "0", "seq-num": "1"})
    return {"id": _account_number(account_id), "type": "spot", "state": "working", "list": rows}


def trade_json(market: Market, t: Trade, number: int) -> dict[str, Any]:
    """`number` is HTX's internal record id (the `from` cursor), increasing with time across symbols."""
    side = "buy" if t.is_buyer else "sell"
    return {"symbol": market.symbol, "fee-currency": t.commission_asset.lower(), "source": "spot-api",
            "order-id": t.order_id, "created-at": t.time_ms, "role": "maker" if t.is_maker else "taker",
            "filled-amount": str(t.qty), "filled-fees": str(t.commission), "match-id": t.id * 7, "id": number,
            "trade-id": t.id, "price": str(t.price), "type": f"{side}-limit", "filled-points": "0",
            "fee-deduct-currency": "", "fee-deduct-state": "done"}


def _record_number(index: int) -> int:
    # time order within the account (world.trades is append-only in time order); gaps of 13 leave room
    return 300_000_000 + index * 13


def matchresults(world: World, account_id: str, params: dict[str, str], malformed: bool) -> list[dict[str, Any]]:
    """Own trades, newest first: a window of at most 48 hours ending within the last 120 days (end-time
    defaults to now, start-time to end-time - 48 h), at most 500 a page; `from` (a record's `id`) with
    `direct` prev/next pages inside the window, as HTX does."""
    now = clock_ms(world)
    end = int(params.get("end-time") or now)
    start = int(params.get("start-time") or end - TRADE_WINDOW_MS)
    # HTX's own refusals (ccxt maps neither code: ExchangeError)
    if end < now - TRADE_HISTORY_MS or end < start:
        raise HtxError("invalid-end-date", "The end date of query contains illegal values.")
    if start < now - TRADE_HISTORY_MS or end - start > TRADE_WINDOW_MS:
        raise HtxError("invalid-start-date", "The start date of query contains illegal values.")
    size = int(params.get("size") or 100)
    if not 1 <= size <= MAX_TRADES:
        raise HtxError("invalid-parameter", "invalid size, valid range: [1, 500]")
    markets = _markets(world)
    symbol = params.get("symbol")
    if symbol and symbol not in markets:
        raise HtxError("invalid-parameter", "invalid symbol")
    book = world.memo(("htx.matchresults", account_id, symbol or None, malformed), account_id,
                      lambda: _trade_book(world, account_id, symbol or None, malformed))
    if book.times is not None:  # the window is one run of the id-ordered list
        first, stop = bisect.bisect_left(book.times, start), bisect.bisect_right(book.times, end)
        rows, ids = book.rows[first:stop], book.ids[first:stop]
    else:
        rows = [r for r in book.rows if start <= r["created-at"] <= end]
        ids = [r["id"] for r in rows]
    cursor = int(params["from"]) if params.get("from") else None
    if params.get("direct") == "next":  # older → newer, after the cursor
        after = 0 if cursor is None else bisect.bisect_right(ids, cursor)
        return rows[after:after + size][::-1]
    before = len(rows) if cursor is None else bisect.bisect_left(ids, cursor)
    if not book.unique:  # equal ids keep their order newest-first too: the plain sort
        return sorted(rows[:before], key=lambda r: -r["id"])[:size]
    return rows[max(0, before - size):before][::-1]


@dataclass(frozen=True)
class _TradeBook:
    """An account's matchresults rows (of one symbol, or all) in id order, their ids, whether the ids are unique,
    and their times when those rise with the ids (always, but for a planted record that might not)."""

    rows: list[dict[str, Any]]
    ids: list[int]
    unique: bool
    times: list[int] | None


def _trade_book(world: World, account_id: str, symbol: str | None, malformed: bool) -> _TradeBook:
    markets = _markets(world)
    rows = [trade_json(markets[t.symbol], t, _record_number(i)) for i, t in enumerate(world.trades[account_id])]
    if malformed:
        rows += bogus_trades(world, account_id)
    rows = sorted((r for r in rows if not symbol or r["symbol"] == symbol), key=lambda r: r["id"])
    ids, times = [r["id"] for r in rows], [r["created-at"] for r in rows]
    return _TradeBook(rows, ids, len(set(ids)) == len(ids), times if rising(times) else None)


def _numbered_transfers(world: World, account_id: str) -> list[tuple[int, Transfer]]:
    ordered = sorted(world.transfers[account_id], key=lambda t: (t.time_ms, t.id))
    return [(10_000 + i * 3, t) for i, t in enumerate(ordered)]


def transfer_json(number: int, t: Transfer) -> dict[str, Any]:
    state = (DEPOSIT_STATE if t.kind == "deposit" else WITHDRAW_STATE)[t.status]
    return {"id": number, "type": "deposit" if t.kind == "deposit" else "withdraw", "sub-type": "NORMAL",
            "currency": t.coin.lower(), "chain": chain_id(t.coin), "tx-hash": t.tx_id, "amount": str(t.amount),
            "from-addr-type": "", "address": t.address, "address-tag": "", "fee": str(t.fee), "state": state,
            "created-at": t.time_ms, "updated-at": t.time_ms + 600_000}


def deposit_withdraw(world: World, account_id: str, params: dict[str, str], malformed: bool) -> list[Any]:
    kind = {"deposit": "deposit", "withdraw": "withdrawal"}.get(params.get("type", ""))
    if kind is None:
        raise HtxError("invalid-parameter", "type must be deposit or withdraw")
    rows = [transfer_json(n, t) for n, t in _numbered_transfers(world, account_id) if t.kind == kind]
    if malformed and kind == "deposit":
        rows += bogus_deposits(world, account_id)
    if params.get("currency"):
        rows = [r for r in rows if r["currency"] == params["currency"]]
    start = int(params.get("from") or 0)
    size = min(int(params.get("size") or 100), MAX_TRANSFERS)
    if params.get("direct", "prev") == "next":
        return sorted((r for r in rows if r["id"] >= start), key=lambda r: r["id"])[:size]
    return sorted((r for r in rows if start == 0 or r["id"] <= start), key=lambda r: -r["id"])[:size]


def transfer_type(m: WalletMove) -> str:
    """HTX's transferType for a move of the spot account: `spot-to-futures` / `futures-to-spot` (and otc,
    linear-swap, super-margin alike), but the margin account's own words for margin: `margin-transfer-in` is
    spot → margin (a debit of the spot account), `margin-transfer-out` margin → spot."""
    if m.wallet == "margin":
        return "margin-transfer-in" if m.direction == "out" else "margin-transfer-out"
    return f"spot-to-{m.wallet}" if m.direction == "out" else f"{m.wallet}-to-spot"


def ledger_entry(account_id: str, m: WalletMove) -> dict[str, Any]:
    """One move as GET /v2/account/ledger lists it for the spot account: transactAmt a JSON number signed for
    the spot account (income positive), transactId 0 as in HTX's own examples, epoch ms."""
    spot, other = _account_number(account_id), _account_number(f"{account_id}:{m.wallet}")
    sign = -1 if m.direction == "out" else 1
    return {"accountId": spot, "currency": m.coin.lower(), "transactAmt": float(sign * m.amount),
            "transactType": "transfer", "transferType": transfer_type(m), "transactId": 0,
            "transactTime": m.time_ms, "transferer": spot if sign < 0 else other,
            "transferee": other if sign < 0 else spot}


def account_ledger(world: World, account_id: str, params: dict[str, str]) -> tuple[int, Any]:
    """GET /v2/account/ledger (huobiapi.github.io/docs/spot/v1/en/#get-account-ledger): transfers only
    (`transactTypes` transfer), a window of at most 10 days (startTime defaults to endTime − 10 days, endTime to
    now) within the last 180 days, newest first, `limit` 1–500 (100), `nextId` / `fromId` when a window holds
    more than a page. Errors in the v2 shape {"code": …, "message": …}."""
    if params.get("accountId") not in (None, str(_account_number(account_id))):
        return 200, {"code": 2002, "message": "invalid.field.value: accountId", "ok": False}
    if params.get("transactTypes", "transfer") != "transfer":
        return 200, {"code": 2002, "message": "invalid.field.value: transactTypes", "ok": False}
    now = int(time.time() * 1000)
    end = int(params.get("endTime") or now)
    start = int(params.get("startTime") or end - LEDGER_WINDOW_MS)
    if end - start > LEDGER_WINDOW_MS or start > end or end < now - LEDGER_HISTORY_MS:
        return 200, {"code": 2002, "message": "invalid.field.value: startTime/endTime", "ok": False}
    limit = min(max(int(params.get("limit") or 100), 1), MAX_LEDGER)
    numbered = [(70_000_000 + i, m) for i, m in enumerate(world.wallet_moves[account_id])]
    chosen = sorted(((n, m) for n, m in numbered if start <= m.time_ms <= end
                     and (not params.get("currency") or m.coin.lower() == params["currency"].lower())),
                    key=lambda r: (r[1].time_ms, r[0]), reverse=True)
    if params.get("fromId"):
        ids = [n for n, _ in chosen]
        chosen = chosen[ids.index(int(params["fromId"])):] if int(params["fromId"]) in ids else []
    page, rest = chosen[:limit], chosen[limit:]
    body: dict[str, Any] = {"code": 200, "message": "success", "data": [ledger_entry(account_id, m) for _, m in page]}
    if rest:
        body["nextId"] = rest[0][0]
    return 200, {**body, "ok": True}


# ── orders (huobiapi.github.io/docs/spot/v1/en: Place a New Order, Get the Order Detail of an Order [based on
# client order ID], Get All Open Orders, Search Past Orders, Submit Cancel for an Order [based on client order ID]) ──
# On the venue's desk (sandbox/orders.py): each fill is booked as the account's trade, listed by matchresults with
# the order's id as `order-id`. `client-order-id` is the client's (≤ 64 characters); getClientOrder finds an order by
# it. Refusals are {"status": "error", "err-code", "err-msg"} with HTTP 200, in the venue's words.
ORDER_STATE = {"closed": "filled", "canceled": "canceled", "expired": "canceled"}


def _permission(world: World, request: Request) -> None:
    """A key with the read permission only: HTX answers trading calls with this signature error."""
    if not world.can_trade(request.params.get("AccessKeyId", "")):  # as authenticate reads it
        raise HtxError("api-signature-not-valid", "Signature not valid: API key has no permission [API Key没有权限]")


def _state(order: EngineOrder) -> str:
    if order.status == "open":
        return "partial-filled" if order.fills else "submitted"
    if order.status != "closed" and order.fills:
        return "partial-canceled"
    return ORDER_STATE[order.status]


def order_json(account_id: str, order: EngineOrder) -> dict[str, Any]:
    finished = max((f.time_ms for f in order.fills), default=order.time_ms) if order.status != "open" else 0
    return {"id": order.id, "symbol": order.market.symbol, "account-id": _account_number(account_id),
            "client-order-id": order.client_order_id, "amount": f"{order.amount:.10f}",
            "price": f"{order.price or 0:.10f}", "created-at": order.time_ms,
            "type": f"{order.side}-{order.type}", "field-amount": f"{order.filled:.10f}",
            "field-cash-amount": f"{order.cost:.10f}", "field-fees": f"{sum(f.fee for f in order.fills):.10f}",
            "finished-at": finished, "user-id": _account_number(account_id) + 1, "source": "spot-api",
            "state": _state(order), "canceled-at": finished if order.status == "canceled" else 0}


def _refusal(market: Market, exc: OrderRefused, available: Decimal) -> HtxError:
    if exc.reason == "insufficient_balance":
        return HtxError("account-frozen-balance-insufficient-error",
                        f"trade account balance is not enough, left: `{available}`")
    if exc.reason == "min_notional":
        return HtxError("order-value-min-error",
                        f"Order total cannot be lower than: {market.min_notional.normalize()} {market.quote}")
    if exc.reason == "precision":
        if str(exc).startswith("amount"):
            return HtxError("order-orderamount-precision-error",
                            f"order amount precision error, scale: `{-market.step.as_tuple().exponent}`")
        return HtxError("order-orderprice-precision-error",
                        f"order price precision error, scale: `{-market.tick.as_tuple().exponent}`")
    if exc.reason == "duplicate":
        return HtxError("invalid-client-order-id", "Invalid field value: client-order-id is duplicated")
    return HtxError("order-update-error", str(exc))


def place_order(world: World, account_id: str, params: dict[str, Any]) -> str:
    market = _markets(world).get(str(params.get("symbol", "")))
    if market is None:
        raise HtxError("base-symbol-error", "The symbol is invalid")
    if str(params.get("account-id")) != str(_account_number(account_id)):
        raise HtxError("account-get-accounts-inexistent-error", "account for id `{}` and user id is not exist"
                       .format(params.get("account-id")))
    side, _, kind = str(params.get("type", "")).partition("-")
    if side not in ("buy", "sell") or kind not in ("limit", "market") or (side, kind) == ("buy", "market"):
        raise HtxError("invalid-parameter", "invalid type")  # buy-market's amount is in the quote: not served here
    amount = Decimal(str(params.get("amount", "0")))
    price = Decimal(str(params["price"])) if kind == "limit" else None
    if amount < market.step * 10:
        raise HtxError(f"order-{kind}order-amount-min-error",
                       f"{kind} order amount error, min: `{(market.step * 10).normalize()}`")
    client_id = str(params.get("client-order-id") or f"auto-{len(desk(world).engines[PREFIX].orders) + 1}")
    try:
        order = desk(world).place(account_id, market, side, kind, amount, price, client_id)
    except OrderRefused as exc:
        asset = market.quote if side == "buy" else market.base
        raise _refusal(market, exc, desk(world).engines[PREFIX].available(account_id, asset)) from None
    return str(order.id)


def _one(world: World, account_id: str, order_id: str | None, client_id: str | None) -> EngineOrder:
    mine = desk(world).orders_of(PREFIX, account_id)
    found = [o for o in mine if (client_id is not None and o.client_order_id == client_id)
             or (client_id is None and str(o.id) == order_id)]
    if not found:
        raise HtxError("base-record-invalid", "record invalid")
    return found[0]


def order_route(world: World, account_id: str, request: Request) -> tuple[int, Any] | None:
    path, params = request.path, request.params
    if path == "/v1/order/orders/place":
        _permission(world, request)
        return _ok(place_order(world, account_id, params))
    if path == "/v1/order/orders/submitCancelClientOrder":
        _permission(world, request)
        try:
            order = _one(world, account_id, None, str(params.get("client-order-id", "")))
        except HtxError:
            return _ok(-1)
        try:
            desk(world).cancel(PREFIX, account_id, order.id)
        except OrderRefused:
            return _ok({"partial-canceled": 5, "filled": 6, "canceled": 7}.get(_state(order), 7))
        return _ok(10)  # cancelling
    if path.startswith("/v1/order/orders/") and path.endswith("/submitcancel"):
        _permission(world, request)
        order = _one(world, account_id, path.split("/")[4], None)
        try:
            desk(world).cancel(PREFIX, account_id, order.id)
        except OrderRefused:
            raise HtxError("order-orderstate-error", "the order state is error") from None
        return _ok(str(order.id))
    if path == "/v1/order/orders/getClientOrder":
        return _ok(order_json(account_id, _one(world, account_id, None, params.get("clientOrderId", ""))))
    if path == "/v1/order/openOrders":
        chosen = [o for o in desk(world).orders_of(PREFIX, account_id) if o.status == "open"
                  and (not params.get("symbol") or o.market.symbol == params["symbol"])]
        size = min(int(params.get("size") or 100), 500)
        return _ok([order_json(account_id, o) for o in sorted(chosen, key=lambda o: -o.id)[:size]])
    if path == "/v1/order/orders":  # Search Past Orders: by symbol and states, newest first
        states = set(str(params.get("states", "")).split(","))
        chosen = [o for o in desk(world).orders_of(PREFIX, account_id) if o.market.symbol == params.get("symbol")
                  and _state(o) in states]
        size = min(int(params.get("size") or 100), 100)
        return _ok([order_json(account_id, o) for o in sorted(chosen, key=lambda o: -o.id)[:size]])
    if path.startswith("/v1/order/orders/") and path.count("/") == 4:
        return _ok(order_json(account_id, _one(world, account_id, path.split("/")[4], None)))
    return None


# ── malformed records (malformed=True only) ───────────────────────────────────────────────────────────────
def bogus_trades(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "bluefin-htx" or len(world.trades.get(account_id, [])) < 4:
        return []
    base = world.trades[account_id][3]
    row = trade_json(_markets(world)[base.symbol], base, _record_number(3) + 1)
    row.update({"trade-id": base.id + 1, "created-at": base.time_ms + 1000, "filled-amount": "-1.5"})
    return [row]


def bogus_deposits(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "bluefin-htx":
        return []
    number, deposit = next((n, t) for n, t in _numbered_transfers(world, account_id) if t.kind == "deposit")
    row = transfer_json(number + 1, deposit)  # ids advance by 3: a free one
    row.update(amount="-300", **{"created-at": START_MS + 140 * DAY_MS})
    return [row]


def malformed_truth(world: World) -> dict[str, list[dict[str, Any]]]:
    markets = _markets(world)
    trades = [{"venue": PREFIX, "account_id": a.account_id, "symbol": markets[r["symbol"]].unified,
               "id": str(r["trade-id"])}
              for a in world.venue_accounts(PREFIX) for r in bogus_trades(world, a.account_id)]
    deposits = [{"venue": PREFIX, "account_id": a.account_id, "id": str(r["id"])}
                for a in world.venue_accounts(PREFIX) for r in bogus_deposits(world, a.account_id)]
    return {"trades": trades, "deposits": deposits}


# ── routing ───────────────────────────────────────────────────────────────────────────────────────────────
def dispatch(world: World, request: Request, *, malformed: bool) -> tuple[int, Any]:
    path, params = request.path, request.params
    try:
        if path == "/v1/common/timestamp":
            return _ok(clock_ms(world))
        if path == "/v1/common/symbols":
            return _ok(symbols(world))
        if path == "/v2/reference/currencies":
            return 200, {"code": 200, "data": currencies(world)}
        if path == "/market/tickers":
            return _ok([ticker(world, m) for m in world.markets(PREFIX)], ts=END_MS)
        if path == "/market/detail/merged":  # one symbol (what a per-symbol client asks)
            market = _markets(world).get(params.get("symbol", ""))
            if market is None:
                raise HtxError("invalid-parameter", "invalid symbol")
            one = ticker(world, market)
            tick = {**{k: v for k, v in one.items() if k not in ("symbol", "bid", "bidSize", "ask", "askSize")},
                    "id": END_MS // 1000, "version": 1, "bid": [one["bid"], one["bidSize"]],
                    "ask": [one["ask"], one["askSize"]]}
            return 200, {"status": "ok", "ch": f"market.{market.symbol}.detail.merged", "ts": END_MS, "tick": tick}
        if path in ("/market/history/kline", "/market/history/candles"):
            rows = kline(world, params, historical=path.endswith("candles"))
            return _ok(rows, ch=f"market.{params.get('symbol')}.kline.{params.get('period')}", ts=END_MS)
        if path == "/market/depth":
            return 200, {"status": "ok", "ch": f"market.{params.get('symbol')}.depth", "ts": END_MS,
                         "tick": depth(world, params)}
        if path.startswith(("/v1/account/", "/v1/order/", "/v1/query/", "/v2/account/")):
            account_id = authenticate(world, request)
            if path == "/v2/account/ledger":
                return account_ledger(world, account_id, params)
            if path == "/v1/account/accounts":
                return _ok([{"id": _account_number(account_id), "type": "spot", "subtype": "", "state": "working"}])
            if path == f"/v1/account/accounts/{_account_number(account_id)}/balance":
                return _ok(balance(world, account_id))
            routed = order_route(world, account_id, request)
            if routed is not None:
                return routed
            if path == "/v1/order/matchresults":
                return _ok(matchresults(world, account_id, params, malformed))
            if path == "/v1/query/deposit-withdraw":
                return _ok(deposit_withdraw(world, account_id, params, malformed))
            raise HtxError("base-record-invalid", "record invalid")
        return 404, {"status": "error", "err-code": "invalid-parameter", "err-msg": f"no endpoint {path}"}
    except HtxError as exc:
        return 200, {"status": "error", "err-code": exc.code, "err-msg": exc.message, "data": None}
    except (ValueError, KeyError):
        return 200, {"status": "error", "err-code": "invalid-parameter", "err-msg": "invalid parameter", "data": None}
