"""Binance spot REST, as far as ccxt's `binance` class uses it for an account's books.

Each handler takes the parsed request and returns (HTTP status, JSON body); errors use Binance's own
shape ({"code": -XXXX, "msg": ...}) and codes, so ccxt maps them to its exception classes unchanged.
Signed endpoints check the API key, the HMAC-SHA256 signature of the query string, and the timestamp
against the real clock, as Binance does.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox import books
from sandbox.matching import EngineOrder, OrderRefused
from sandbox.orders import desk
from sandbox.world import (
    END_MS,
    MARKET_BY_SYMBOL,
    MARKETS,
    START_MS,
    Market,
    World,
    deposit_json,
    price_anomaly,
    trade_json,
    withdrawal_json,
)

DAY_MS = 86_400_000
INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
               "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
               "1d": DAY_MS}
# The world's wallets for Binance Simple Earn, as WalletMove.wallet / Reward.wallet name them.
EARN_FLEXIBLE, EARN_LOCKED = "EARN_FLEXIBLE", "EARN_LOCKED"
EARN_WALLETS = (EARN_FLEXIBLE, EARN_LOCKED)


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    raw_body: str = ""


# -- helpers -------------------------------------------------------------------------------------------------
def _int(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _limit(params: dict[str, str], default: int, maximum: int) -> int:
    limit = _int(params, "limit", default) or default
    if limit < 1 or limit > maximum:
        raise ApiError(400, -1130, "Invalid data sent for a parameter.")
    return limit


def _market(params: dict[str, str]) -> Market:
    symbol = params.get("symbol")
    if not symbol:
        raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    market = MARKET_BY_SYMBOL.get(symbol)
    if market is None:
        raise ApiError(400, -1121, "Invalid symbol.")
    return market


def authenticate(world: World, request: Request) -> str:
    """The account behind a signed request, or an ApiError exactly as Binance words it."""
    api_key = request.headers.get("x-mbx-apikey", "")
    account_id = world.account_by_key(api_key, "binance")
    if account_id is None:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    payload, _, signature = request.raw_query.rpartition("&signature=")
    if not signature:
        raise ApiError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    secret = world.secret_of(api_key)
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise ApiError(401, -1022, "Signature for this request is not valid.")
    timestamp = _int(request.params, "timestamp")
    if timestamp is None:
        raise ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    recv_window = _int(request.params, "recvWindow", 5000) or 5000
    now = int(time.time() * 1000)
    if timestamp > now + 1000:
        raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > recv_window:
        raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return account_id


# -- public --------------------------------------------------------------------------------------------------
def ping(world: World, request: Request) -> Any:
    return {}


def server_time(world: World, request: Request) -> Any:
    return {"serverTime": int(time.time() * 1000)}


def _symbol_info(m: Market) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
        "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": str(m.tick), "maxPrice": "1000000.00000000",
             "tickSize": str(m.tick)},
            {"filterType": "LOT_SIZE", "minQty": str(m.step), "maxQty": "9000.00000000", "stepSize": str(m.step)},
            {"filterType": "NOTIONAL", "minNotional": str(m.min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(world: World, request: Request) -> Any:
    return {
        "timezone": "UTC", "serverTime": int(time.time() * 1000),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(m) for m in MARKETS],
    }


def candles(world: World, market: Market, interval: str, start: int | None, end: int | None,
            limit: int) -> list[list[Any]]:
    """Closed candles from the hourly path: hour-multiples aggregate it, sub-hour intervals interpolate."""
    width = INTERVAL_MS[interval]
    last_open = (END_MS + 1 - width) // width * width  # the last candle that closes within the world
    first_open = (START_MS + width - 1) // width * width
    # An outage leaves a gap; like a real venue, a page then holds the next `limit` candles that exist.
    def served(o: int) -> bool:
        return price_anomaly(market.venue, market.symbol, o)[0]

    if start is not None:
        stop = last_open if end is None else min(last_open, end)
        candidates = range(max(first_open, (start + width - 1) // width * width), stop + 1, width)
        opens = list(itertools.islice(filter(served, candidates), limit))
    else:
        upper = min(last_open, (end - width + 1) // width * width) if end is not None else last_open
        backwards = range(upper, first_open - 1, -width)
        opens = sorted(itertools.islice((o for o in backwards if served(o)), limit))
    prices = world.prices
    out = []
    for open_ms in opens:
        factor = price_anomaly(market.venue, market.symbol, open_ms)[1]
        first_hour, last_hour = prices.hour_of(open_ms), prices.hour_of(open_ms + width - 1)
        prev = prices.market_close(market, max(0, first_hour - 1))
        if width >= 3_600_000:
            closes = [prices.market_close(market, h) for h in range(first_hour, last_hour + 1)]
            hi = max(prev, *closes) * (1 + float(prices.wiggle[last_hour, 0]))
            lo = min(prev, *closes) * (1 - float(prices.wiggle[last_hour, 1]))
            o, c = prev, closes[-1]
            volume = sum(float(prices.volume[h]) for h in range(first_hour, last_hour + 1))
        else:  # linear path inside the hour
            here = prices.market_close(market, first_hour)
            frac0 = (open_ms % 3_600_000) / 3_600_000
            frac1 = ((open_ms + width) % 3_600_000 or 3_600_000) / 3_600_000
            o, c = prev + (here - prev) * frac0, prev + (here - prev) * frac1
            hi, lo = max(o, c) * 1.0002, min(o, c) * 0.9998
            volume = float(prices.volume[first_hour]) * width / 3_600_000
        tick = market.tick
        o_d, h_d, l_d, c_d = (_round(x * factor, tick) for x in (o, hi, lo, c))
        base_volume = _round(volume * 2_000_000 / prices.coin_usd(market.base, last_hour), market.step)
        out.append([open_ms, str(o_d), str(max(h_d, o_d, c_d)), str(min(l_d, o_d, c_d)), str(c_d), str(base_volume),
                    open_ms + width - 1, str(_round(float(base_volume) * float(c_d), tick)), 1000, "0", "0", "0"])
    return out


def _round(value: float, quantum: Decimal) -> Decimal:
    return Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def klines(world: World, request: Request) -> Any:
    market = _market(request.params)
    interval = request.params.get("interval", "")
    if interval not in INTERVAL_MS:
        raise ApiError(400, -1120, "Invalid interval.")
    limit = _limit(request.params, 500, 1000)
    return candles(world, market, interval, _int(request.params, "startTime"), _int(request.params, "endTime"),
                   limit)


def _ticker(world: World, market: Market) -> dict[str, Any]:
    # Fixed at the world's end (not the wall clock): a re-run sees the same ticker and ingests nothing.
    day = candles(world, market, "1d", None, END_MS, 1)[0]
    last_hour = world.prices.hours - 1
    last = _round(world.prices.market_close(market, last_hour), market.tick)
    open_ = _round(float(day[1]), market.tick)
    spread = market.tick * 2
    return {
        "symbol": market.symbol, "priceChange": str(last - open_),
        "priceChangePercent": str(((last - open_) / open_ * 100).quantize(Decimal("0.001"))),
        "weightedAvgPrice": str(last), "prevClosePrice": str(open_), "lastPrice": str(last),
        "lastQty": str(market.step * 10), "bidPrice": str(last - spread), "bidQty": str(market.step * 100),
        "askPrice": str(last + spread), "askQty": str(market.step * 120), "openPrice": str(open_),
        "highPrice": day[2], "lowPrice": day[3], "volume": day[5], "quoteVolume": day[7],
        "openTime": END_MS + 1 - DAY_MS, "closeTime": END_MS, "firstId": 1, "lastId": 1000, "count": 1000,
    }


def ticker_24hr(world: World, request: Request) -> Any:
    if "symbol" in request.params:
        return _ticker(world, _market(request.params))
    if "symbols" in request.params:
        try:
            wanted = json.loads(request.params["symbols"])
        except json.JSONDecodeError:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
        unknown = [s for s in wanted if s not in MARKET_BY_SYMBOL]
        if unknown:
            raise ApiError(400, -1121, "Invalid symbol.")
        return [_ticker(world, MARKET_BY_SYMBOL[s]) for s in wanted]
    return [_ticker(world, m) for m in MARKETS]


# -- signed --------------------------------------------------------------------------------------------------
def account(world: World, request: Request) -> Any:
    account_id = authenticate(world, request)
    reported = world.reported_balances(account_id)
    omit_zero = request.params.get("omitZeroBalances") == "true"
    updated = 0 if account_id in world.zero_update_time else world.last_update_ms(account_id)
    balances = [{"asset": asset, "free": f"{amount:.8f}", "locked": "0.00000000"}
                for asset, amount in sorted(reported.items()) if not (omit_zero and amount == 0)]
    return {
        "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                            "seller": "0.00000000"},
        "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": updated,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
        "uid": int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16),
    }


def my_trades(world: World, request: Request, malformed: bool) -> Any:
    account_id = authenticate(world, request)
    market = _market(request.params)
    limit = _limit(request.params, 500, 1000)
    book = world.memo(("binance.my_trades", account_id, market.symbol, malformed), account_id,
                      lambda: _trade_book(world, account_id, market.symbol, malformed))
    records = book.records
    from_id = _int(request.params, "fromId")
    start, end = _int(request.params, "startTime"), _int(request.params, "endTime")
    if from_id is not None:
        first = bisect.bisect_left(book.ids, from_id)
        return records[first:first + limit]
    if start is not None or end is not None:
        start = start if start is not None else end - DAY_MS  # type: ignore[operator]
        end = end if end is not None else start + DAY_MS
        if end - start > DAY_MS:
            raise ApiError(400, -1127, "More than 24 hours between startTime and endTime.")
        if book.times is None:  # times out of id order (a planted record): the plain filter
            return [r for r in records if start <= r["time"] <= end][:limit]
        first = bisect.bisect_left(book.times, start)
        return records[first:min(bisect.bisect_right(book.times, end), first + limit)]
    return records[-limit:]


@dataclass(frozen=True)
class _TradeBook:
    """One account's trades of one symbol as myTrades lists them (rendered, id order), with the ids and, when
    they rise with the ids (always, but for a planted record that might not), the times to bisect a page on."""

    records: list[dict[str, Any]]
    ids: list[int]
    times: list[int] | None


def _trade_book(world: World, account_id: str, symbol: str, malformed: bool) -> _TradeBook:
    records = [trade_json(t) for t in world.trades[account_id] if t.symbol == symbol]
    if malformed:
        records += [m["record"] for m in world.malformed.trades
                    if m["account_id"] == account_id and m["record"]["symbol"] == symbol]
    records.sort(key=lambda r: r["id"])
    times = [r["time"] for r in records]
    return _TradeBook(records, [r["id"] for r in records], times if rising(times) else None)


def rising(keys: list[Any]) -> bool:
    """Never falling: a window of such keys is one run of the list, found by bisection."""
    return all(a <= b for a, b in itertools.pairwise(keys))


def _transfer_window(params: dict[str, str]) -> tuple[int, int]:
    now = int(time.time() * 1000)
    end = _int(params, "endTime")
    start = _int(params, "startTime")
    if start is None and end is None:
        end = now
    if start is None:
        start = end - 90 * DAY_MS  # type: ignore[operator]
    if end is None:
        end = min(now, start + 90 * DAY_MS)
    if end - start > 90 * DAY_MS:
        raise ApiError(400, -1127, "More than 90 days between startTime and endTime.")
    return start, end


def deposit_history(world: World, request: Request, malformed: bool) -> Any:
    account_id = authenticate(world, request)
    start, end = _transfer_window(request.params)
    limit = _limit(request.params, 1000, 1000)
    offset = _int(request.params, "offset", 0) or 0
    coin = request.params.get("coin")
    records = [deposit_json(t) for t in world.transfers[account_id] if t.kind == "deposit"]
    if malformed:
        records += [m["record"] for m in world.malformed.deposits if m["account_id"] == account_id]
    records = [r for r in records if start <= r["insertTime"] <= end and (coin is None or r["coin"] == coin)]
    records.sort(key=lambda r: r["insertTime"], reverse=True)  # Binance lists newest first
    return records[offset:offset + limit]


def withdraw_history(world: World, request: Request, malformed: bool) -> Any:
    account_id = authenticate(world, request)
    start, end = _transfer_window(request.params)
    limit = _limit(request.params, 1000, 1000)
    offset = _int(request.params, "offset", 0) or 0
    coin = request.params.get("coin")
    chosen = [t for t in world.transfers[account_id] if t.kind == "withdrawal" and start <= t.time_ms <= end
              and (coin is None or t.coin == coin)]
    chosen.sort(key=lambda t: t.time_ms, reverse=True)
    return [withdrawal_json(t) for t in chosen][offset:offset + limit]


def _universal_type(move: Any) -> str:
    """Binance's universal transfer type: FROM_TO with MAIN for the spot wallet (MAIN_FUNDING, UMFUTURE_MAIN)."""
    return f"MAIN_{move.wallet}" if move.direction == "out" else f"{move.wallet}_MAIN"


def universal_transfers(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/asset/transfer (developers.binance.com/docs/wallet/asset/query-user-universal-transfer):
    `type` required, startTime/endTime, `current` (page, from 1) and `size` (default 10, max 100); no times:
    the last 7 days. {"total": n, "rows": [...]}, newest first; no row at all: {"total": 0}."""
    account_id = authenticate(world, request)
    kind = request.params.get("type")
    if not kind:
        raise ApiError(400, -1102, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
    now = int(time.time() * 1000)
    start, end = _int(request.params, "startTime"), _int(request.params, "endTime")
    if start is None and end is None:
        start, end = now - 7 * DAY_MS, now
    start = start if start is not None else 0
    end = end if end is not None else now
    size = _limit({"limit": request.params.get("size", "10")}, 10, 100)
    current = max(_int(request.params, "current", 1) or 1, 1)
    chosen = [m for m in world.wallet_moves[account_id] if _universal_type(m) == kind and start <= m.time_ms <= end
              and m.wallet not in EARN_WALLETS]  # Simple Earn moves are in its own history, not here
    chosen.sort(key=lambda m: m.time_ms, reverse=True)
    rows = [{"asset": m.coin, "amount": str(m.amount), "type": kind, "status": "CONFIRMED", "tranId": m.id,
             "timestamp": m.time_ms} for m in chosen][(current - 1) * size:current * size]
    return {"total": len(chosen), "rows": rows} if chosen else {"total": 0}


# -- Simple Earn (developers.binance.com/docs/simple_earn) ----------------------------------------------------
EARN_MAX_WINDOW_MS = 90 * DAY_MS  # "The time between startTime and endTime cannot be longer than 3 months."


def _earn_window(params: dict[str, str]) -> tuple[int, int]:
    """The Simple Earn history window: no times → the last 30 days; only startTime → 30 days from it; only
    endTime → the 30 days before it; longer than 3 months → an error."""
    now = int(time.time() * 1000)
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if start is None and end is None:
        start, end = now - 30 * DAY_MS, now
    elif end is None:
        end = start + 30 * DAY_MS  # type: ignore[operator]
    elif start is None:
        start = end - 30 * DAY_MS
    if end - start > EARN_MAX_WINDOW_MS:  # type: ignore[operator]
        raise ApiError(400, -1127, "More than 3 months between startTime and endTime.")
    return start, end  # type: ignore[return-value]


def _earn_page(params: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`current` (from 1) and `size` (default 10, max 100) over rows already newest first: {"rows", "total"}."""
    size = _limit({"limit": params.get("size", "10")}, 10, 100)
    current = max(_int(params, "current", 1) or 1, 1)
    return {"rows": rows[(current - 1) * size:current * size], "total": len(rows)}


def _earn_moves(world: World, account_id: str, wallet: str, direction: str,
                params: dict[str, str]) -> list[Any]:
    start, end = _earn_window(params)
    asset = params.get("asset")
    chosen = [m for m in world.wallet_moves[account_id] if m.wallet == wallet and m.direction == direction
              and start <= m.time_ms <= end and (asset is None or m.coin == asset)]
    return sorted(chosen, key=lambda m: m.time_ms, reverse=True)


def _earn_rewards(world: World, account_id: str, product: str, params: dict[str, str]) -> list[Any]:
    start, end = _earn_window(params)
    asset = params.get("asset")
    chosen = [r for r in world.rewards[account_id] if r.product == product and start <= r.time_ms <= end
              and (asset is None or r.coin == asset)]
    return sorted(chosen, key=lambda r: r.time_ms, reverse=True)


def _locked_position_id(world: World, account_id: str, coin: str) -> int:
    """A locked position's id: its first subscription's (the sandbox keeps one locked position per coin)."""
    return next(m.id for m in world.wallet_moves[account_id]
                if m.wallet == EARN_LOCKED and m.coin == coin and m.direction == "out")


def flexible_subscriptions(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/flexible/history/subscriptionRecord, as the docs' example: amount moved from
    Spot into the flexible product; type NORMAL, sourceAccount SPOT, status SUCCESS."""
    account_id = authenticate(world, request)
    rows = [{"amount": f"{m.amount:.8f}", "asset": m.coin, "time": m.time_ms, "purchaseId": m.id,
             "productId": f"{m.coin}001", "type": "NORMAL", "sourceAccount": "SPOT", "status": "SUCCESS"}
            for m in _earn_moves(world, account_id, EARN_FLEXIBLE, "out", request.params)]
    return _earn_page(request.params, rows)


def flexible_redemptions(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/flexible/history/redemptionRecord: amount back to Spot (destAccount SPOT),
    status PAID; the product is `projectId` here, as in the docs' example."""
    account_id = authenticate(world, request)
    rows = [{"amount": f"{m.amount:.8f}", "asset": m.coin, "time": m.time_ms, "projectId": f"{m.coin}001",
             "redeemId": m.id, "destAccount": "SPOT", "status": "PAID"}
            for m in _earn_moves(world, account_id, EARN_FLEXIBLE, "in", request.params)]
    return _earn_page(request.params, rows)


def flexible_rewards(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/flexible/history/rewardsRecord, `type` required: REALTIME (real-time APR,
    accrued into the flexible product), BONUS (bonus tiered APR, paid to Spot), REWARDS (historical), ALL.
    A row carries `rewards` (not `amount`) and the product as `projectId`."""
    account_id = authenticate(world, request)
    kind = request.params.get("type")
    if kind not in ("BONUS", "REALTIME", "REWARDS", "ALL"):
        raise ApiError(400, -1102, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
    rows = []
    for r in _earn_rewards(world, account_id, "flexible", request.params):
        r_type = "REALTIME" if r.wallet == EARN_FLEXIBLE else "BONUS"
        if kind in ("ALL", r_type):
            rows.append({"asset": r.coin, "rewards": f"{r.amount:.8f}", "projectId": f"{r.coin}001",
                         "type": r_type, "time": r.time_ms})
    return _earn_page(request.params, rows)


def locked_subscriptions(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/locked/history/subscriptionRecord: a 30-day locked product bought from Spot."""
    account_id = authenticate(world, request)
    rows = [{"positionId": _locked_position_id(world, account_id, m.coin), "purchaseId": str(m.id),
             "projectId": f"{m.coin}*30", "time": m.time_ms, "asset": m.coin, "amount": f"{m.amount:.8f}",
             "lockPeriod": "30", "type": "NORMAL", "sourceAccount": "SPOT", "status": "SUCCESS"}
            for m in _earn_moves(world, account_id, EARN_LOCKED, "out", request.params)]
    return _earn_page(request.params, rows)


def locked_redemptions(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/locked/history/redemptionRecord: MATURE (to Spot at the redemption date),
    amount = originalAmount, no loss; status PAID."""
    account_id = authenticate(world, request)
    rows = [{"positionId": _locked_position_id(world, account_id, m.coin), "redeemId": m.id, "time": m.time_ms,
             "asset": m.coin, "lockPeriod": "30", "amount": f"{m.amount:.8f}", "originalAmount": f"{m.amount:.8f}",
             "type": "MATURE", "deliverDate": str(m.time_ms), "lossAmount": "0", "isComplete": True,
             "status": "PAID"}
            for m in _earn_moves(world, account_id, EARN_LOCKED, "in", request.params)]
    return _earn_page(request.params, rows)


def locked_rewards(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/locked/history/rewardsRecord: daily rewards of a locked position, paid to Spot."""
    account_id = authenticate(world, request)
    rows = [{"positionId": _locked_position_id(world, account_id, r.coin), "time": r.time_ms, "asset": r.coin,
             "lockPeriod": "30", "amount": f"{r.amount:.8f}", "type": "Locked Rewards"}
            for r in _earn_rewards(world, account_id, "locked", request.params)]
    return _earn_page(request.params, rows)


def flexible_position(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/flexible/position: one row per product held, `totalAmount` what it holds
    (real-time rewards included)."""
    account_id = authenticate(world, request)
    held = sorted((c, q) for (w, c), q in world.other_wallets(account_id).items() if w == EARN_FLEXIBLE and q)
    rows = [{"totalAmount": f"{q:.8f}", "tierAnnualPercentageRate": {}, "latestAnnualPercentageRate": "0.02599895",
             "yesterdayAirdropPercentageRate": "0", "asset": c, "airDropAsset": "", "canRedeem": True,
             "collateralAmount": "0", "productId": f"{c}001", "yesterdayRealTimeRewards": "0",
             "cumulativeBonusRewards": "0", "cumulativeRealTimeRewards": "0", "cumulativeTotalRewards": "0",
             "autoSubscribe": False} for c, q in held if request.params.get("asset") in (None, c)]
    return _earn_page(request.params, rows)


def locked_position(world: World, request: Request, malformed: bool) -> Any:
    """GET /sapi/v1/simple-earn/locked/position: one row per locked position, `amount` locked."""
    account_id = authenticate(world, request)
    held = sorted((c, q) for (w, c), q in world.other_wallets(account_id).items() if w == EARN_LOCKED and q)
    rows = [{"positionId": _locked_position_id(world, account_id, c), "projectId": f"{c}*30", "asset": c,
             "amount": f"{q:.8f}", "purchaseTime": str(END_MS), "duration": "30", "accrualDays": "4",
             "rewardAsset": c, "APY": "0.05", "rewardAmt": "0", "redeemTo": "SPOT", "canRedeemEarly": True,
             "autoSubscribe": False, "type": "NORMAL", "status": "HOLDING"}
            for c, q in held if request.params.get("asset") in (None, c)]
    return _earn_page(request.params, rows)


# -- orders (developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints and account-endpoints) --
# Placed on the venue's desk (sandbox/orders.py, the matching engine); fills are booked as the account's trades, so
# GET /api/v3/myTrades lists them with the order's id.
ORDER_STATUS = {"closed": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED"}
FILTER_FAILURE = {"min_notional": "Filter failure: NOTIONAL"}


def _decimal(params: dict[str, str], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except ArithmeticError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _status(order: EngineOrder) -> str:
    if order.status == "open":
        return "PARTIALLY_FILLED" if order.filled > 0 else "NEW"
    return ORDER_STATUS[order.status]


def _order_json(order: EngineOrder) -> dict[str, Any]:
    return {"symbol": order.market.symbol, "orderId": order.id, "orderListId": -1,
            "clientOrderId": order.client_order_id, "price": f"{order.price or 0:.8f}",
            "origQty": f"{order.amount:.8f}", "executedQty": f"{order.filled:.8f}",
            "origQuoteOrderQty": "0.00000000", "cummulativeQuoteQty": f"{order.cost:.8f}", "status": _status(order),
            "timeInForce": "GTC", "type": order.type.upper(), "side": order.side.upper(),
            "selfTradePreventionMode": "EXPIRE_MAKER"}


def _refused(exc: OrderRefused) -> ApiError:
    """Binance's answer to what its matching engine refuses (-1013 filter failures, -2010 rejections)."""
    if exc.reason == "precision":
        return ApiError(400, -1013, "Filter failure: LOT_SIZE" if str(exc).startswith("amount")
                        else "Filter failure: PRICE_FILTER")
    if exc.reason == "min_notional":
        return ApiError(400, -1013, "Filter failure: NOTIONAL")
    if exc.reason == "insufficient_balance":
        return ApiError(400, -2010, "Account has insufficient balance for requested action.")
    if exc.reason == "duplicate":
        return ApiError(400, -2010, "Duplicate order sent.")
    if exc.reason == "no_liquidity":
        return ApiError(400, -2010, "Order would immediately match and take.")
    return ApiError(400, -2013, "Order does not exist.")


def _trading(world: World, request: Request) -> str:
    """A key with "Enable Spot & Margin Trading": a read-only key is refused with -2015, as Binance does."""
    account_id = authenticate(world, request)
    if not world.can_trade(request.headers.get("x-mbx-apikey", "")):
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return account_id


def new_order(world: World, request: Request, malformed: bool) -> Any:
    """POST /api/v3/order: LIMIT (timeInForce GTC) and MARKET by quantity; the answer as newOrderRespType asks
    (FULL by default for both, with the fills)."""
    account_id = _trading(world, request)
    market = _market(request.params)
    params = request.params
    side, type_ = params.get("side", ""), params.get("type", "")
    if side not in ("BUY", "SELL"):
        raise ApiError(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
    if type_ not in ("LIMIT", "MARKET"):
        raise ApiError(400, -1116, "Invalid orderType.")
    quantity, price = _decimal(params, "quantity"), _decimal(params, "price")
    if quantity is None:
        raise ApiError(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
    if type_ == "LIMIT":
        if price is None:
            raise ApiError(400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
        if params.get("timeInForce") not in ("GTC", "IOC", "FOK"):
            raise ApiError(400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or "
                                       "malformed.")
    generated = "sandbox-" + hashlib.sha256(request.raw_query.encode()).hexdigest()[:20]  # Binance makes one up too
    client_id = params.get("newClientOrderId") or generated
    try:
        order = desk(world).place(account_id, market, side.lower(), type_.lower(), quantity,
                                  price if type_ == "LIMIT" else None, client_id)
    except OrderRefused as exc:
        raise _refused(exc) from None
    kind = params.get("newOrderRespType", "FULL")
    ack = {"symbol": market.symbol, "orderId": order.id, "orderListId": -1, "clientOrderId": order.client_order_id,
           "transactTime": order.time_ms}
    if kind == "ACK":
        return ack
    result = {**ack, **_order_json(order), "workingTime": order.time_ms}
    if kind == "RESULT":
        return result
    trade_ids = desk(world).trade_ids.get(("binance", order.id), [])
    return {**result, "fills": [{"price": f"{f.price:.8f}", "qty": f"{f.qty:.8f}", "commission": f"{f.fee:.8f}",
                                 "commissionAsset": f.fee_asset, "tradeId": tid}
                                for f, tid in zip(order.fills, trade_ids, strict=True)]}


def _find(world: World, request: Request, account_id: str, unknown: ApiError) -> EngineOrder:
    market = _market(request.params)
    order_id, client_id = _int(request.params, "orderId"), request.params.get("origClientOrderId")
    if order_id is None and not client_id:
        raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    try:
        order = desk(world).find("binance", account_id, order_id, None if order_id is not None else client_id)
    except OrderRefused:
        raise unknown from None
    if order.market != market:
        raise unknown
    return order


def query_order(world: World, request: Request, malformed: bool) -> Any:
    """GET /api/v3/order by orderId or origClientOrderId; -2013 when the account has no such order."""
    account_id = authenticate(world, request)
    order = _find(world, request, account_id, ApiError(400, -2013, "Order does not exist."))
    last = max((f.time_ms for f in order.fills), default=order.time_ms)
    return {**_order_json(order), "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": order.time_ms,
            "updateTime": last, "isWorking": True, "workingTime": order.time_ms}


def cancel_order(world: World, request: Request, malformed: bool) -> Any:
    """DELETE /api/v3/order: what is left of an open order; -2011 for an unknown or no longer open order."""
    account_id = _trading(world, request)
    unknown = ApiError(400, -2011, "Unknown order sent.")
    order = _find(world, request, account_id, unknown)
    try:
        desk(world).cancel("binance", account_id, order.id)
    except OrderRefused:
        raise unknown from None
    return {**_order_json(order), "origClientOrderId": order.client_order_id,
            "clientOrderId": request.params.get("newClientOrderId") or f"cancel-{order.id}",
            "transactTime": int(time.time() * 1000)}


ORDERS = {("POST", "/api/v3/order"): new_order, ("GET", "/api/v3/order"): query_order,
          ("DELETE", "/api/v3/order"): cancel_order}


Handler = Callable[[World, Request], Any]
PUBLIC: dict[str, Handler] = {
    "/api/v3/ping": ping,
    "/api/v3/time": server_time,
    "/api/v3/exchangeInfo": exchange_info,
    "/api/v3/klines": klines,
    "/api/v3/ticker/24hr": ticker_24hr,
    "/api/v3/depth": lambda w, r: books.binance_depth(w, _market(r.params), _limit(r.params, 100, 5000)),
}
SIGNED = {
    "/api/v3/account": lambda w, r, m: account(w, r),
    "/api/v3/myTrades": my_trades,
    "/sapi/v1/capital/deposit/hisrec": deposit_history,
    "/sapi/v1/capital/withdraw/history": withdraw_history,
    "/sapi/v1/asset/transfer": universal_transfers,
    "/sapi/v1/simple-earn/flexible/history/subscriptionRecord": flexible_subscriptions,
    "/sapi/v1/simple-earn/flexible/history/redemptionRecord": flexible_redemptions,
    "/sapi/v1/simple-earn/flexible/history/rewardsRecord": flexible_rewards,
    "/sapi/v1/simple-earn/locked/history/subscriptionRecord": locked_subscriptions,
    "/sapi/v1/simple-earn/locked/history/redemptionRecord": locked_redemptions,
    "/sapi/v1/simple-earn/locked/history/rewardsRecord": locked_rewards,
    "/sapi/v1/simple-earn/flexible/position": flexible_position,
    "/sapi/v1/simple-earn/locked/position": locked_position,
}
WEIGHTS = {"/api/v3/exchangeInfo": 20, "/api/v3/account": 20, "/api/v3/myTrades": 20, "/api/v3/ticker/24hr": 80,
           "/sapi/v1/capital/deposit/hisrec": 1, "/sapi/v1/capital/withdraw/history": 18, "/api/v3/klines": 2,
           "/sapi/v1/asset/transfer": 1, "/api/v3/order": 4,
           **{p: 150 for p in ("/sapi/v1/simple-earn/flexible/history/subscriptionRecord",
                               "/sapi/v1/simple-earn/flexible/history/redemptionRecord",
                               "/sapi/v1/simple-earn/flexible/history/rewardsRecord",
                               "/sapi/v1/simple-earn/locked/history/subscriptionRecord",
                               "/sapi/v1/simple-earn/locked/history/redemptionRecord",
                               "/sapi/v1/simple-earn/locked/history/rewardsRecord",
                               "/sapi/v1/simple-earn/flexible/position", "/sapi/v1/simple-earn/locked/position")}}


def dispatch(world: World, request: Request, *, malformed: bool) -> tuple[int, Any]:
    try:
        if request.path in PUBLIC:
            return 200, PUBLIC[request.path](world, request)
        if (request.method, request.path) in ORDERS:
            return 200, ORDERS[(request.method, request.path)](world, request, malformed)
        if request.path in SIGNED:
            return 200, SIGNED[request.path](world, request, malformed)
        raise ApiError(404, -1000, f"Unknown endpoint {request.path}.")
    except ApiError as exc:
        return exc.status, exc.body()
