"""HTX (formerly Huobi) spot REST, as far as ccxt's `htx` class uses it for an account's books.

HTX's own conventions, kept: lower-case symbols and currencies ('btcusdt', 'usdt'), answers
{"status": "ok", "data": ...} (v2: {"code": 200, ...}), signature version 2 (HMAC-SHA256 over
"METHOD\\nhost\\npath\\nsorted query" in the query string, host = api.huobi.pro), a spot account id to look up
before asking for balances, and the history limits of the real API: own trades only within 120 days and
48 hours per query (at most 500), deposits and withdrawals paged by id (at most 100).

The sandbox's HTX clock is the world's end (or the latest activity after it): its 120 days are counted
from there, so the demo world keeps its meaning whatever the date the sandbox runs on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from sandbox.binance import Request, candles
from sandbox.world import END_MS, NETWORK, START_MS, Market, Trade, Transfer, World

PREFIX = "htx"
HOST = "api.huobi.pro"  # what ccxt signs, whatever host it really talks to
DAY_MS = 86_400_000
TRADE_HISTORY_MS = 120 * DAY_MS
TRADE_WINDOW_MS = 2 * DAY_MS
MAX_TRADES, MAX_TRANSFERS = 500, 100
PERIODS = {"1min": "1m", "5min": "5m", "15min": "15m", "60min": "1h", "4hour": "4h", "1day": "1d"}
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
    latest = max((t.time_ms for a in world.venue_accounts(PREFIX) for t in world.trades[a.account_id]),
                 default=END_MS)
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


def kline(world: World, params: dict[str, str]) -> list[dict[str, Any]]:
    market = _markets(world).get(params.get("symbol", ""))
    interval = PERIODS.get(params.get("period", ""))
    if market is None or interval is None:
        raise HtxError("invalid-parameter", "invalid symbol or period")
    size = min(int(params.get("size") or 150), 2000)
    if params.get("from"):  # /market/history/candles: `size` candles from `from` (seconds) on
        to = int(params["to"]) * 1000 + 999 if params.get("to") else END_MS
        rows = candles(world, market, interval, int(params["from"]) * 1000, to, size)
    else:  # /market/history/kline: the latest `size` candles
        rows = candles(world, market, interval, None, END_MS, size)
    return [{"id": r[0] // 1000, "open": float(r[1]), "close": float(r[4]), "low": float(r[3]),
             "high": float(r[2]), "amount": float(r[5]), "vol": float(r[7]), "count": 1000} for r in rows[::-1]]


def depth(world: World, params: dict[str, str]) -> dict[str, Any]:
    market = _markets(world).get(params.get("symbol", ""))
    if market is None:
        raise HtxError("invalid-parameter", "invalid symbol")
    mid = _mid(world, market)
    levels = min(int(params.get("depth") or 20), 150)
    return {"ts": END_MS, "version": 1,
            "bids": [[float(mid - market.tick * (i + 1)), float(market.step * (10 + i))] for i in range(levels)],
            "asks": [[float(mid + market.tick * (i + 1)), float(market.step * (10 + i))] for i in range(levels)]}


# ── private ───────────────────────────────────────────────────────────────────────────────────────────────
def authenticate(world: World, request: Request) -> str:
    query = request.raw_query
    auth, _, signature = query.partition("&Signature=")
    params = dict(p.split("=", 1) for p in auth.split("&") if "=" in p)
    account_id = world.account_by_key(unquote_plus(params.get("AccessKeyId", "")), PREFIX)
    if account_id is None:
        raise HtxError("api-signature-not-valid", "Signature not valid: Incorrect Access key")
    payload = "\n".join([request.method, HOST, request.path, auth])
    secret = world.credentials[account_id].secret.encode()
    expected = base64.b64encode(hmac.new(secret, payload.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, unquote_plus(signature)):
        raise HtxError("api-signature-not-valid", "Signature not valid: Verification failure")
    return account_id


def balance(world: World, account_id: str) -> dict[str, Any]:
    rows = []
    for asset, amount in sorted(world.reported_balances(account_id).items()):
        rows.append({"currency": asset.lower(), "type": "trade", "balance": str(amount), "seq-num": "1"})
        rows.append({"currency": asset.lower(), "type": "frozen", "balance": "0", "seq-num": "1"})
    return {"id": _account_number(account_id), "type": "spot", "state": "working", "list": rows}


def trade_json(market: Market, t: Trade) -> dict[str, Any]:
    side = "buy" if t.is_buyer else "sell"
    return {"symbol": market.symbol, "fee-currency": t.commission_asset.lower(), "source": "spot-api",
            "order-id": t.order_id, "created-at": t.time_ms, "role": "maker" if t.is_maker else "taker",
            "filled-amount": str(t.qty), "filled-fees": str(t.commission), "match-id": t.id * 7, "id": t.id * 11,
            "trade-id": t.id, "price": str(t.price), "type": f"{side}-limit", "filled-points": "0",
            "fee-deduct-currency": "", "fee-deduct-state": "done"}


def matchresults(world: World, account_id: str, params: dict[str, str], malformed: bool) -> list[dict[str, Any]]:
    now = clock_ms(world)
    end = int(params.get("end-time") or now)
    start = int(params.get("start-time") or end - TRADE_WINDOW_MS)
    if start < now - TRADE_HISTORY_MS:
        raise HtxError("invalid-parameter", "start-time is out of the 120 days range")
    if end - start > TRADE_WINDOW_MS:
        raise HtxError("invalid-parameter", "the query window is longer than 48 hours")
    markets = _markets(world)
    symbol = params.get("symbol")
    rows = [trade_json(markets[t.symbol], t) for t in world.trades[account_id]
            if symbol is None or t.symbol == symbol]
    if malformed:
        rows += bogus_trades(world, account_id)
    rows = sorted((r for r in rows if start <= r["created-at"] <= end), key=lambda r: -r["created-at"])
    return rows[:min(int(params.get("size") or 100), MAX_TRADES)]


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


# ── malformed records (malformed=True only) ───────────────────────────────────────────────────────────────
def bogus_trades(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "bluefin-htx" or len(world.trades.get(account_id, [])) < 4:
        return []
    base = world.trades[account_id][3]
    row = trade_json(_markets(world)[base.symbol], base)
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
            return _ok(kline(world, params), ch=f"market.{params.get('symbol')}.kline", ts=END_MS)
        if path == "/market/depth":
            return 200, {"status": "ok", "ch": f"market.{params.get('symbol')}.depth", "ts": END_MS,
                         "tick": depth(world, params)}
        if path.startswith(("/v1/account/", "/v1/order/", "/v1/query/")):
            account_id = authenticate(world, request)
            if path == "/v1/account/accounts":
                return _ok([{"id": _account_number(account_id), "type": "spot", "subtype": "", "state": "working"}])
            if path == f"/v1/account/accounts/{_account_number(account_id)}/balance":
                return _ok(balance(world, account_id))
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
