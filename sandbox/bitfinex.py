"""Bitfinex REST v2 (api.bitfinex.com/v2, api-pub.bitfinex.com/v2), as far as ccxt's `bitfinex` class uses
it for an account's books.

Bitfinex's own conventions, kept: answers are positional arrays, pair ids 'tBTCUSD', USDT is 'UST', trade
amounts are signed (negative = sell) and fees negative, movements carry a signed amount (negative =
withdrawal). Private calls are POSTs with a JSON body, signed bfx-signature = HMAC-SHA384(secret,
'/api/' + path + nonce + body) and an increasing bfx-nonce per key; errors are ["error", code, text] with
HTTP 500. History endpoints return at most `limit` (≤ 2,500 trades, ≤ 1,000 movements), newest first unless
sort=1, so a connector must page.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox import books
from sandbox.binance import Request, candles
from sandbox.matching import EngineOrder, OrderRefused
from sandbox.orders import desk
from sandbox.world import END_MS, START_MS, Market, Trade, Transfer, WalletMove, World

PREFIX = "bitfinex"
CURRENCY_ID = {"BTC": "BTC", "ETH": "ETH", "SOL": "SOL", "USD": "USD", "USDT": "UST", "BNB": "BNB"}
UNIFIED = {v: k for k, v in CURRENCY_ID.items()}
STATUS = {"ok": "COMPLETED", "pending": "PENDING", "failed": "FAILURE", "canceled": "CANCELED"}
TIMEFRAMES = {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h", "4h": "4h", "1D": "1d"}
MAX_TRADES, MAX_MOVEMENTS, MAX_LEDGERS = 2500, 1000, 2500
NONCE_WINDOW = 10_000
DAY_MS = 86_400_000
# derivatives=True only (POST /__sandbox/faults {"derivatives": true}): one account also trades Bitfinex's BTC
# perpetual. Layouts as ccxt's bitfinex reads them: the pair 'BTCF0:USTF0' in conf pub:info:pair:futures
# (ccxt: 'BTC/USDT:USDT', type swap, contractSize 1), fills in the same trades/hist as spot (signed EXEC_AMOUNT,
# FEE negative when paid, positive for a maker rebate, in USTF0), its collateral in a 'margin' wallet 'USTF0'.
OPTIONS = ("derivatives",)
PERP_ACCOUNT, PERP_ID, PERP_FILLS, PERP_COLLATERAL = "bluefin-bitfinex", "tBTCF0:USTF0", 40, Decimal("25000")


class BitfinexError(Exception):
    def __init__(self, code: int, text: str, status: int = 500) -> None:
        super().__init__(text)
        self.code, self.text, self.status = code, text, status


def _markets(world: World) -> dict[str, Market]:
    return {m.symbol: m for m in world.markets(PREFIX)}


def _pair(m: Market) -> str:
    return m.symbol[1:]  # 'tBTCUSD' → 'BTCUSD' (the conf lists pairs without the 't')


def _mid(world: World, m: Market) -> Decimal:
    return Decimal(str(world.prices.market_close(m, world.prices.hours - 1))).quantize(m.tick)


# ── public ────────────────────────────────────────────────────────────────────────────────────────────────
def conf(world: World, config: str, derivatives: bool = False) -> list[Any]:
    out: list[Any] = []
    codes = sorted({c for m in world.markets(PREFIX) for c in (m.base, m.quote)})
    for label in config.split(","):
        if label == "pub:info:pair":
            out.append([[_pair(m), [None, None, None, str(m.step * 10), "2000.0", None, None, None, "0.2", "0.1"]]
                        for m in world.markets(PREFIX)])
        elif label == "pub:list:currency":
            out.append([CURRENCY_ID[c] for c in codes])
        elif label == "pub:map:currency:label":
            out.append([[CURRENCY_ID[c], c] for c in codes])
        elif label == "pub:map:currency:pool":
            out.append([[CURRENCY_ID[c], c] for c in codes if c not in ("USD",)])
        elif label == "pub:info:pair:futures" and derivatives:
            out.append([[PERP_ID[1:], [None, None, None, "0.0002", "100.0", None, None, None, 0.01, 0.005]]])
        else:
            out.append([])  # futures, securities, margin, maps we have nothing for
    return out


def ticker(world: World, m: Market) -> list[Any]:
    day = candles(world, m, "1d", None, END_MS, 1)[0]
    last = _mid(world, m)
    spread = m.tick * 2
    change = last - Decimal(day[1])
    return [m.symbol, float(last - spread), 2.5, float(last + spread), 3.1, float(change),
            float((change / Decimal(day[1])).quantize(Decimal("0.0001"))), float(last), float(day[5]),
            float(day[2]), float(day[3])]


def tickers(world: World, params: dict[str, str]) -> list[Any]:
    markets = _markets(world)
    wanted = params.get("symbols", "ALL")
    chosen = list(markets.values()) if wanted == "ALL" else [markets[s] for s in wanted.split(",") if s in markets]
    return [ticker(world, m) for m in chosen]


def candle_rows(world: World, key: str, params: dict[str, str]) -> list[Any]:
    # key: 'trade:1D:tBTCUSD'
    _, timeframe, symbol = key.split(":", 2)
    market = _markets(world).get(symbol)
    interval = TIMEFRAMES.get(timeframe)
    if market is None or interval is None:
        raise BitfinexError(10020, "symbol: invalid", 500)
    limit = min(int(params.get("limit") or 100), 10_000)
    start = int(params["start"]) if params.get("start") else None
    end = int(params["end"]) if params.get("end") else None
    rows = candles(world, market, interval, start, end, limit)
    out = [[r[0], float(r[1]), float(r[4]), float(r[2]), float(r[3]), float(r[5])] for r in rows]
    return out if params.get("sort") == "1" else out[::-1]


def book(world: World, symbol: str, precision: str, params: dict[str, str]) -> list[Any]:
    """P0..P3: [price, count, amount]; R0 (raw): [order id, price, amount]. Positive amounts bid."""
    market = _markets(world).get(symbol)
    if market is None:
        raise BitfinexError(10020, "symbol: invalid", 500)
    return books.bitfinex_book(world, market, precision, min(int(params.get("len") or 25), 100))


# ── private ───────────────────────────────────────────────────────────────────────────────────────────────
_last_nonce: dict[str, int] = {}


def authenticate(world: World, request: Request) -> str:
    key = request.headers.get("bfx-apikey", "")
    account_id = world.account_by_key(key, PREFIX)
    nonce = request.headers.get("bfx-nonce", "")
    if account_id is None or not nonce.isdigit():
        raise BitfinexError(10100, "apikey: invalid")
    payload = f"/api{request.path}{nonce}{request.raw_body}"
    expected = hmac.new(world.secret_of(key).encode(), payload.encode(), hashlib.sha384).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("bfx-signature", "")):
        raise BitfinexError(10100, "apikey: digest invalid")
    if int(nonce) <= _last_nonce.get(key, 0) - NONCE_WINDOW:
        raise BitfinexError(10114, "nonce: small")
    _last_nonce[key] = max(int(nonce), _last_nonce.get(key, 0))
    return account_id


def wallets(world: World, account_id: str, derivatives: bool = False) -> list[Any]:
    spot = [["exchange", CURRENCY_ID[a], float(amount), 0, float(amount), None, None]
            for a, amount in sorted(world.reported_balances(account_id).items())]
    if derivatives and account_id == PERP_ACCOUNT:
        spot.append(["margin", "USTF0", float(PERP_COLLATERAL), 0, float(PERP_COLLATERAL), None, None])
    # the margin / funding wallets the account's moves filled (ccxt's fetch_balance keeps the exchange wallet)
    spot += [[w, CURRENCY_ID[c], float(q), 0, float(q), None, None]
             for (w, c), q in sorted(world.other_wallets(account_id).items())]
    return spot


def perp_fills(world: World, account_id: str) -> list[list[Any]]:
    """PERP_FILLS fills of the BTC perpetual, one every ten days, alternately bought and sold, 0.5–2 contracts at
    BTC's price then; every third a maker fill paid a 0.02 % rebate (FEE > 0), the rest paid 0.065 % taker."""
    if account_id != PERP_ACCOUNT:
        return []
    spot = _markets(world)["tBTCUST"]
    rows = []
    for i in range(PERP_FILLS):
        time_ms = START_MS + (i * 10 + 3) * DAY_MS + 37_000
        price = Decimal(str(world.prices.market_close(spot, world.prices.hour_of(time_ms)))).quantize(spot.tick)
        contracts = Decimal("0.5") * (1 + i % 4)
        maker = i % 3 == 0
        fee = (price * contracts * (Decimal("0.0002") if maker else Decimal("-0.00065"))).quantize(Decimal("0.000001"))
        rows.append([880_000_000 + i, PERP_ID, time_ms, 990_000_000 + i, str(contracts if i % 2 == 0 else -contracts),
                     str(price), "LIMIT" if maker else "MARKET", str(price), 1 if maker else -1, str(fee), "USTF0",
                     None])
    return rows


def trade_row(market: Market, t: Trade) -> list[Any]:
    qty = t.qty if t.is_buyer else -t.qty
    return [t.id, market.symbol, t.time_ms, t.order_id, str(qty), str(t.price), "EXCHANGE LIMIT", str(t.price),
            1 if t.is_maker else -1, str(-t.commission), CURRENCY_ID[t.commission_asset], None]


def _window(params: dict[str, Any]) -> tuple[int, int, int, bool]:
    start = int(params.get("start") or 0)
    end = int(params.get("end") or END_MS * 2)
    return start, end, int(params.get("limit") or 25), str(params.get("sort", "-1")) == "1"


def trades_hist(world: World, account_id: str, symbol: str | None, params: dict[str, Any],
                malformed: bool, derivatives: bool = False) -> list[Any]:
    start, end, limit, ascending = _window(params)
    keys, rows = world.memo(("bitfinex.trades", account_id, symbol, malformed, derivatives, ascending), account_id,
                            lambda: _trade_book(world, account_id, symbol, malformed, derivatives, ascending))
    # the window [start, end] is one run of the list, found on its times (negated when newest first)
    if ascending:
        first, stop = bisect.bisect_left(keys, start), bisect.bisect_right(keys, end)
    else:
        first, stop = bisect.bisect_left(keys, -end), bisect.bisect_right(keys, -start)
    return rows[first:stop][:min(limit, MAX_TRADES)]


def _trade_book(world: World, account_id: str, symbol: str | None, malformed: bool, derivatives: bool,
                ascending: bool) -> tuple[list[int], list[list[Any]]]:
    """An account's trade rows as trades/hist lists them (by time then id, in the asked direction) and their times
    (negated when newest first), to bisect a window on."""
    markets = _markets(world)
    rows = [trade_row(markets[t.symbol], t) for t in world.trades[account_id]
            if symbol is None or t.symbol == symbol]
    if derivatives:
        rows += [r for r in perp_fills(world, account_id) if symbol is None or r[1] == symbol]
    if malformed:
        rows += [r for r in bogus_trades(world, account_id) if symbol is None or r[1] == symbol]
    rows = sorted(rows, key=lambda r: (r[2], r[0]), reverse=not ascending)
    return [r[2] if ascending else -r[2] for r in rows], rows


def movement_row(t: Transfer) -> list[Any]:
    signed = t.amount if t.kind == "deposit" else -t.amount
    return [int(hashlib.sha256(t.id.encode()).hexdigest()[:10], 16), CURRENCY_ID[t.coin], t.coin, None, None,
            t.time_ms, t.time_ms + 600_000, None, None, STATUS[t.status], None, None, str(signed), str(-t.fee),
            None, None, t.address, None, None, None, t.tx_id, None]


def movements_hist(world: World, account_id: str, currency: str | None, params: dict[str, Any],
                   malformed: bool) -> list[Any]:
    start, end, limit, _ = _window(params)
    rows = [movement_row(t) for t in world.transfers[account_id]
            if currency is None or CURRENCY_ID[t.coin] == currency]
    if malformed:
        rows += bogus_movements(world, account_id)
    rows = sorted((r for r in rows if start <= r[5] <= end), key=lambda r: (r[5], r[0]), reverse=True)
    return rows[:min(limit or 25, MAX_MOVEMENTS)]


# The site's names for the wallets in ledger descriptions ("from wallet Exchange to Deposit"), by wallet type.
WALLET_LABEL = {"exchange": "Exchange", "margin": "Trading", "funding": "Deposit"}
TRANSFER_CATEGORY = 51


def ledger_entries(m: WalletMove) -> list[list[Any]]:
    """A move between the account's wallets as Bitfinex's ledger writes it: one entry per wallet changed, same
    MTS, signed AMOUNT (a float) and the wallet's BALANCE after it; the description names both wallets by their
    site labels and ends with the entry's own wallet ("Transfer of 184.3 USD from wallet Exchange to Deposit on
    wallet funding" and "… on wallet exchange")."""
    origin, target = ("exchange", m.wallet) if m.direction == "out" else (m.wallet, "exchange")
    text = (f"Transfer of {float(m.amount)} {CURRENCY_ID[m.coin]} from wallet {WALLET_LABEL[origin]} to "
            f"{WALLET_LABEL[target]} on wallet")
    spot_sign = -1 if m.direction == "out" else 1
    return [[2 * (m.id - 43_000_000_000) + 10_000_000_001, CURRENCY_ID[m.coin], m.wallet, m.time_ms, None,
             float(-spot_sign * m.amount), float(m.other_after), None, f"{text} {m.wallet}"],
            [2 * (m.id - 43_000_000_000) + 10_000_000_000, CURRENCY_ID[m.coin], "exchange", m.time_ms, None,
             float(spot_sign * m.amount), float(m.spot_after), None, f"{text} exchange"]]


def ledgers_hist(world: World, account_id: str, currency: str | None, params: dict[str, Any]) -> list[Any]:
    """POST /v2/auth/r/ledgers[/{Currency}]/hist (docs.bitfinex.com/reference/rest-auth-ledgers): start / end on
    MTS, limit (default 25, at most 2500), `category` (51: transfer); newest first. Only wallet moves live in
    this ledger: trades and movements are read from their own endpoints."""
    start, end, limit, _ = _window(params)
    category = params.get("category")
    if category is not None and int(category) != TRANSFER_CATEGORY:
        return []
    rows = [e for m in world.wallet_moves[account_id] for e in ledger_entries(m)
            if currency is None or e[1] == currency]
    rows = sorted((r for r in rows if start <= r[3] <= end), key=lambda r: (r[3], r[0]), reverse=True)
    return rows[:min(limit, MAX_LEDGERS)]


# ── malformed records (malformed=True only) ───────────────────────────────────────────────────────────────
def bogus_trades(world: World, account_id: str) -> list[list[Any]]:
    if account_id != "bluefin-bitfinex" or not world.trades.get(account_id):
        return []
    base = world.trades[account_id][5]
    row = trade_row(_markets(world)[base.symbol], base)
    row[0], row[2], row[5] = base.id + 1, base.time_ms + 1000, "0"  # a fill at price zero
    return [row]


def bogus_movements(world: World, account_id: str) -> list[list[Any]]:
    if account_id != "bluefin-bitfinex":
        return []
    deposit = next((t for t in world.transfers[account_id] if t.kind == "deposit"), None)
    if deposit is None:
        return []
    row = movement_row(deposit)
    row[0], row[5], row[6], row[9] = 99_000_000_001, START_MS + 130 * 86_400_000, START_MS + 130 * 86_400_000, "???"
    return [row]  # a deposit in a status the venue never documented


def malformed_truth(world: World) -> dict[str, list[dict[str, Any]]]:
    markets = _markets(world)
    trades = [{"venue": PREFIX, "account_id": a.account_id, "symbol": markets[r[1]].unified, "id": str(r[0])}
              for a in world.venue_accounts(PREFIX) for r in bogus_trades(world, a.account_id)]
    deposits = [{"venue": PREFIX, "account_id": a.account_id, "id": str(r[0])}
                for a in world.venue_accounts(PREFIX) for r in bogus_movements(world, a.account_id)]
    return {"trades": trades, "deposits": deposits}


# ── orders (docs.bitfinex.com/reference: rest-auth-submit-order, rest-auth-retrieve-orders[-by-symbol],
# rest-auth-orders-history, rest-auth-cancel-order) ─────────────────────────────────────────────────────────
# On the venue's desk (sandbox/orders.py): each fill is booked as the account's trade, listed by trades/hist with the
# order's id as ORDER_ID. An order is the venue's 32-slot array; `cid` is the client's integer id, unique per UTC day
# with `cid_date` (YYYY-MM-DD of its creation). Retrieve Orders lists active orders only, Orders History the others.
# Refusals are ["error", 10001, text] with HTTP 500, in the venue's words ("Invalid order: not enough exchange balance
# for …", "Invalid order: minimum size for …").
AMOUNT_PRECISION = Decimal("0.00000001")  # order amounts: 8 decimals on every pair (prices: 5 significant digits)


def _permission(world: World, request: Request) -> None:
    """A key without the "Orders: create and cancel" permission: the venue's 10001 refusal."""
    if not world.can_trade(request.headers.get("bfx-apikey", "")):
        raise BitfinexError(10001, "api_key: permission invalid")


def _signed(order: EngineOrder, qty: Decimal) -> str:
    return str(qty if order.side == "buy" else -qty)


def _order_status(order: EngineOrder) -> str:
    fills = order.fills
    if order.status == "open":
        return "ACTIVE" if not fills else f"PARTIALLY FILLED @ {fills[-1].price}({_signed(order, order.filled)})"
    if order.status == "closed":
        return f"EXECUTED @ {fills[-1].price}({_signed(order, order.filled)})"
    return "CANCELED" if not fills else f"CANCELED was: PARTIALLY FILLED @ {fills[-1].price}"


def _cid(order: EngineOrder) -> int | None:
    return int(order.client_order_id) if order.client_order_id.isdigit() else None


def _cid_date(order: EngineOrder) -> str:
    return datetime.fromtimestamp(order.time_ms / 1000, UTC).strftime("%Y-%m-%d")


def order_row(order: EngineOrder) -> list[Any]:
    last = max((f.time_ms for f in order.fills), default=order.time_ms)
    average = order.cost / order.filled if order.filled else Decimal(0)
    remaining = Decimal(0) if order.status != "open" else order.remaining
    return [order.id, None, _cid(order), order.market.symbol, order.time_ms, last, float(_signed(order, remaining)),
            float(_signed(order, order.amount)), "EXCHANGE LIMIT" if order.type == "limit" else "EXCHANGE MARKET",
            None, None, None, 0, _order_status(order), None, None, float(order.price or 0), float(average), 0, 0,
            None, None, None, 0, 0, None, None, None, "API>BFX", None, None, {}]


def submit_order(world: World, account_id: str, body: dict[str, Any]) -> list[Any]:
    market = _markets(world).get(str(body.get("symbol", "")))
    kind = str(body.get("type", ""))
    if market is None:
        raise BitfinexError(10020, "symbol: invalid")
    if kind not in ("EXCHANGE LIMIT", "EXCHANGE MARKET"):
        raise BitfinexError(10020, "type: invalid")
    amount = Decimal(str(body.get("amount", "0")))
    price = Decimal(str(body["price"])) if kind == "EXCHANGE LIMIT" else None
    side = "buy" if amount > 0 else "sell"
    cid = body.get("cid")
    # the engine keys the client id; Bitfinex's cid (an integer) is it, its UTC day is the order's creation day
    client_id = str(int(cid)) if cid is not None else f"auto-{len(desk(world).engines[PREFIX].orders) + 1}"
    if abs(amount) < market.step * 10:  # conf pub:info:pair's minimum order size
        raise BitfinexError(10001, f"Invalid order: minimum size for {market.symbol[1:]} is {market.step * 10}")
    if amount != amount.quantize(AMOUNT_PRECISION):
        raise BitfinexError(10001, f"Invalid order: amount precision is {AMOUNT_PRECISION} ({amount})")
    try:  # Bitfinex takes any amount to 8 decimals: the engine checks that, not the world market's step
        order = desk(world).place(account_id, dataclasses.replace(market, step=AMOUNT_PRECISION), side,
                                  "limit" if price is not None else "market", abs(amount), price, client_id)
    except OrderRefused as exc:
        raise BitfinexError(10001, _refusal(market, amount, price, exc)) from None
    return [order.time_ms, "on-req", None, None, [order_row(order)], None, "SUCCESS", "Submitting 1 orders."]


def _refusal(market: Market, amount: Decimal, price: Decimal | None, exc: OrderRefused) -> str:
    if exc.reason == "insufficient_balance":
        return f"Invalid order: not enough exchange balance for {amount} {market.symbol[1:]} at {price or 0}"
    if exc.reason == "min_notional":
        return f"Invalid order: minimum size for {market.symbol[1:]} is {market.step * 10}"
    return f"Invalid order: {exc}"


def retrieve_orders(world: World, account_id: str, symbol: str | None, body: dict[str, Any]) -> list[Any]:
    """Active orders, filtered by `id` (a list), or by `cid` with its `cid_date`."""
    ids = {int(i) for i in body.get("id") or []}
    cid, cid_date = body.get("cid"), body.get("cid_date")
    return [order_row(o) for o in desk(world).orders_of(PREFIX, account_id, symbol) if o.status == "open"
            and (not ids or o.id in ids)
            and (cid is None or (_cid(o) == int(cid) and (cid_date is None or _cid_date(o) == cid_date)))]


def orders_history(world: World, account_id: str, symbol: str | None, body: dict[str, Any]) -> list[Any]:
    """Closed and canceled orders, newest first, `start`/`end`/`limit` (≤ 2,500, default 25), `id` a list."""
    start, end, limit, _ascending = _window(body)
    ids = {int(i) for i in body.get("id") or []}
    rows = [o for o in desk(world).orders_of(PREFIX, account_id, symbol) if o.status != "open"
            and (not ids or o.id in ids) and start <= o.time_ms <= end]
    return [order_row(o) for o in sorted(rows, key=lambda o: -o.time_ms)[:min(limit, MAX_TRADES)]]


def cancel_order(world: World, account_id: str, body: dict[str, Any]) -> list[Any]:
    mine = desk(world).orders_of(PREFIX, account_id)
    if body.get("cid") is not None:
        found = [o for o in mine if _cid(o) == int(body["cid"]) and _cid_date(o) == body.get("cid_date")]
    else:
        found = [o for o in mine if o.id == int(body.get("id") or -1)]
    if not found or found[0].status != "open":
        raise BitfinexError(10001, "Order not found.")
    desk(world).cancel(PREFIX, account_id, found[0].id)
    return [found[0].time_ms, "oc-req", None, None, order_row(found[0]), None, "SUCCESS",
            f"Submitted for cancellation; waiting for confirmation (ID: {found[0].id})."]


def order_route(world: World, account_id: str, request: Request, body: dict[str, Any]) -> list[Any] | None:
    path = request.path
    if path in ("/v2/auth/w/order/submit", "/v2/auth/w/order/cancel"):
        _permission(world, request)
        return (submit_order if path.endswith("submit") else cancel_order)(world, account_id, body)
    if path.startswith("/v2/auth/r/orders"):  # /v2/auth/r/orders[/{symbol}][/hist]
        parts = path.split("/")
        symbol = parts[5] if len(parts) > 5 and parts[5] != "hist" else None
        if path.endswith("/hist"):
            return orders_history(world, account_id, symbol, body)
        return retrieve_orders(world, account_id, symbol, body)
    return None


# ── routing ───────────────────────────────────────────────────────────────────────────────────────────────
def dispatch(world: World, request: Request, *, malformed: bool, derivatives: bool = False) -> tuple[int, Any]:
    path, params = request.path, request.params
    try:
        if path.startswith("/v2/conf/"):
            return 200, conf(world, path.removeprefix("/v2/conf/"), derivatives)
        if path.startswith("/v2/ticker/"):  # one symbol, without the symbol slot
            market = _markets(world).get(path.removeprefix("/v2/ticker/"))
            if market is None:
                raise BitfinexError(10020, "symbol: invalid")
            return 200, ticker(world, market)[1:]
        if path == "/v2/tickers":
            return 200, tickers(world, params)
        if path.startswith("/v2/candles/") and path.endswith("/hist"):
            return 200, candle_rows(world, path.removeprefix("/v2/candles/").removesuffix("/hist"), params)
        if path.startswith("/v2/book/"):
            parts = path.split("/")
            return 200, book(world, parts[3], parts[4] if len(parts) > 4 else "P0", params)
        if path.startswith("/v2/auth/"):
            account_id = authenticate(world, request)
            body = json.loads(request.raw_body or "{}")
            routed = order_route(world, account_id, request, body)
            if routed is not None:
                return 200, routed
            if path == "/v2/auth/r/wallets":
                return 200, wallets(world, account_id, derivatives)
            if path == "/v2/auth/r/trades/hist":
                return 200, trades_hist(world, account_id, None, body, malformed, derivatives)
            if path.startswith("/v2/auth/r/trades/") and path.endswith("/hist"):
                return 200, trades_hist(world, account_id, path.split("/")[5], body, malformed, derivatives)
            if path == "/v2/auth/r/ledgers/hist":
                return 200, ledgers_hist(world, account_id, None, body)
            if path.startswith("/v2/auth/r/ledgers/") and path.endswith("/hist"):
                return 200, ledgers_hist(world, account_id, path.split("/")[5], body)
            if path == "/v2/auth/r/movements/hist":
                return 200, movements_hist(world, account_id, None, body, malformed)
            if path.startswith("/v2/auth/r/movements/") and path.endswith("/hist"):
                return 200, movements_hist(world, account_id, path.split("/")[5], body, malformed)
        return 404, ["error", 10020, f"unknown endpoint {path}"]
    except BitfinexError as exc:
        return exc.status, ["error", exc.code, exc.text]
    except (ValueError, KeyError):
        return 500, ["error", 10020, "invalid arguments"]
