"""Coinbase: the Advanced Trade API (api.coinbase.com/api/v3/brokerage) plus the v2 endpoints ccxt's
`coinbase` class still uses (currencies, exchange rates, per-currency account transactions).

Coinbase's own conventions, kept: products 'BTC-USD'; one account (wallet) per currency with a uuid;
fills newest first with an opaque cursor; v2 transactions per account, newest first unless order=asc, paged
with starting_after and at most 100 a page; candles at most 350 per request. Authentication is the
CB-ACCESS-* scheme of Coinbase API keys (HMAC-SHA256 of timestamp + method + path + body, hex), which ccxt
uses for keys that are not CDP keys (CDP's ES256 JWTs are not built here).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox import books
from sandbox.binance import INTERVAL_MS, Request, candles
from sandbox.matching import EngineOrder, OrderRefused
from sandbox.orders import desk
from sandbox.world import END_MS, START_MS, Market, Trade, Transfer, WalletMove, World

PREFIX = "coinbase"
FIAT = ("USD",)
MAX_FILLS, MAX_TRANSACTIONS, MAX_CANDLES = 1000, 100, 350
GRANULARITY = {"ONE_MINUTE": "1m", "FIVE_MINUTE": "5m", "FIFTEEN_MINUTE": "15m", "THIRTY_MINUTE": "30m",
               "ONE_HOUR": "1h", "TWO_HOUR": "2h", "SIX_HOUR": "6h", "ONE_DAY": "1d"}
STATUS = {"ok": "completed", "pending": "pending", "failed": "failed", "canceled": "canceled"}
CLOCK_SKEW_S = 30


class CoinbaseError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_details": self.message, "message": self.message}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _markets(world: World) -> dict[str, Market]:
    return {m.symbol: m for m in world.markets(PREFIX)}


def _mid(world: World, m: Market) -> Decimal:
    return Decimal(str(world.prices.market_close(m, world.prices.hours - 1))).quantize(m.tick)


def _uuid(*parts: object) -> str:
    return str(uuid.UUID(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32]))


# ── public ────────────────────────────────────────────────────────────────────────────────────────────────
def product(world: World, m: Market) -> dict[str, Any]:
    day = candles(world, m, "1d", None, END_MS, 1)[0]
    last = _mid(world, m)
    change = ((last - Decimal(day[1])) / Decimal(day[1]) * 100).quantize(Decimal("0.01"))
    return {"product_id": m.symbol, "price": str(last), "price_percentage_change_24h": str(change),
            "volume_24h": day[5], "volume_percentage_change_24h": "0", "base_increment": str(m.step),
            "quote_increment": str(m.tick), "quote_min_size": str(m.min_notional), "quote_max_size": "10000000",
            "base_min_size": str(m.step), "base_max_size": "10000", "base_name": m.base, "quote_name": m.quote,
            "watched": False, "is_disabled": False, "new": False, "status": "online", "cancel_only": False,
            "limit_only": False, "post_only": False, "trading_disabled": False, "auction_mode": False,
            "product_type": "SPOT", "quote_currency_id": m.quote, "base_currency_id": m.base,
            "fcm_trading_session_details": None, "mid_market_price": "", "alias": "", "alias_to": [],
            "base_display_symbol": m.base, "quote_display_symbol": m.quote, "view_only": False,
            "price_increment": str(m.tick), "display_name": m.symbol, "product_venue": "CBE"}


def products(world: World, params: dict[str, str], query: str) -> dict[str, Any]:
    if params.get("product_type", "SPOT") != "SPOT":
        return {"products": [], "num_products": 0}
    wanted = [v for k, v in _pairs(query) if k == "product_ids"]
    chosen = [m for m in world.markets(PREFIX) if not wanted or m.symbol in wanted]
    return {"products": [product(world, m) for m in chosen], "num_products": len(chosen)}


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def product_candles(world: World, product_id: str, params: dict[str, str]) -> dict[str, Any]:
    market = _markets(world).get(product_id)
    interval = GRANULARITY.get(params.get("granularity", ""))
    if market is None or interval is None:
        raise CoinbaseError(400, "INVALID_ARGUMENT", "invalid product_id or granularity")
    start, end = int(params["start"]) * 1000, int(params["end"]) * 1000
    step = INTERVAL_MS[interval]
    if end <= start or (end - start) // step > MAX_CANDLES:  # the venue refuses wider ranges, it does not cut them
        raise CoinbaseError(400, "INVALID_ARGUMENT", "start and end argument is invalid - number of candles "
                            f"requested should be less than {MAX_CANDLES}")
    rows = candles(world, market, interval, start, end, MAX_CANDLES)
    return {"candles": [{"start": str(r[0] // 1000), "low": r[3], "high": r[2], "open": r[1], "close": r[4],
                         "volume": r[5]} for r in rows[::-1]]}


def currencies(world: World, crypto: bool) -> dict[str, Any]:
    codes = sorted({c for m in world.markets(PREFIX) for c in (m.base, m.quote)})
    if crypto:
        return {"data": [{"asset_id": _uuid("asset", c), "code": c, "name": c, "color": "#000000",
                          "sort_index": 100, "exponent": 8, "type": "crypto", "address_regex": ".*"}
                         for c in codes if c not in FIAT]}
    return {"data": [{"id": c, "name": c, "min_size": "0.01"} for c in codes if c in FIAT]}


def exchange_rates(world: World) -> dict[str, Any]:
    rates = {m.base: str((1 / _mid(world, m)).quantize(Decimal("0.000000000001")))
             for m in world.markets(PREFIX) if m.quote == "USD"}
    return {"data": {"currency": "USD", "rates": {"USD": "1", **rates}}}


# ── private ───────────────────────────────────────────────────────────────────────────────────────────────
def authenticate(world: World, request: Request) -> str:
    key = request.headers.get("cb-access-key", "")
    account_id = world.account_by_key(key, PREFIX)
    stamp = request.headers.get("cb-access-timestamp", "")
    if account_id is None or not stamp.isdigit():
        raise CoinbaseError(401, "unauthorized", "Unauthorized")
    if abs(int(stamp) - time.time()) > CLOCK_SKEW_S:
        raise CoinbaseError(401, "authentication_error", "request timestamp expired")
    payload = request.raw_body if request.method != "GET" else ""
    if request.method == "GET" and request.path.startswith("/v2/") and request.raw_query:
        payload = "?" + request.raw_query  # v2 signs the query string, v3 does not
    message = stamp + request.method + request.path + payload
    expected = hmac.new(world.secret_of(key).encode(), message.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("cb-access-sign", "")):
        raise CoinbaseError(401, "authentication_error", "invalid signature")
    return account_id


def _currencies_of(world: World, account_id: str) -> list[str]:
    held = set(world.reported_balances(account_id))
    held |= {c for m in world.markets(PREFIX) for c in (m.base, m.quote)}
    return sorted(held)


def accounts(world: World, account_id: str) -> dict[str, Any]:
    balances = world.reported_balances(account_id)
    rows = []
    for code in _currencies_of(world, account_id):
        amount = balances.get(code, Decimal(0))
        rows.append({"uuid": _uuid(account_id, code), "name": f"{code} Wallet", "currency": code,
                     "available_balance": {"value": str(amount), "currency": code}, "default": True,
                     "active": True, "created_at": _iso(START_MS), "updated_at": _iso(END_MS), "deleted_at": None,
                     "type": "ACCOUNT_TYPE_FIAT" if code in FIAT else "ACCOUNT_TYPE_CRYPTO", "ready": True,
                     "hold": {"value": "0", "currency": code}})
    return {"accounts": rows, "has_next": False, "cursor": "", "size": len(rows)}


def fill_json(market: Market, t: Trade) -> dict[str, Any]:
    return {"entry_id": _uuid("entry", t.id), "trade_id": str(t.id), "order_id": _uuid("order", t.order_id),
            "trade_time": _iso(t.time_ms), "trade_type": "FILL", "price": str(t.price), "size": str(t.qty),
            "commission": str(t.commission), "product_id": market.symbol, "sequence_timestamp": _iso(t.time_ms),
            "liquidity_indicator": "MAKER" if t.is_maker else "TAKER", "size_in_quote": False,
            "user_id": _uuid("user", t.account_id), "side": "BUY" if t.is_buyer else "SELL",
            "retail_portfolio_id": _uuid("portfolio", t.account_id)}


def fills(world: World, account_id: str, query: str, malformed: bool) -> dict[str, Any]:
    params = dict(_pairs(query))
    products_wanted = {v for k, v in _pairs(query) if k in ("product_id", "product_ids")}
    start = _ms(params["start_sequence_timestamp"]) if params.get("start_sequence_timestamp") else 0
    end = _ms(params["end_sequence_timestamp"]) if params.get("end_sequence_timestamp") else END_MS * 2
    limit = min(int(params.get("limit") or 100), MAX_FILLS)
    offset = int(params.get("cursor") or 0)
    wanted = tuple(sorted(products_wanted))
    negated, rows = world.memo(("coinbase.fills", account_id, wanted, malformed), account_id,
                               lambda: _fill_book(world, account_id, set(wanted), malformed))
    # newest first: the window [start, end] is one run of the list, found on the negated times
    chosen = rows[bisect.bisect_left(negated, -end):bisect.bisect_right(negated, -start)]
    page = chosen[offset:offset + limit]
    more = offset + limit < len(chosen)
    return {"fills": page, "cursor": str(offset + limit) if more else ""}


def _fill_book(world: World, account_id: str, products_wanted: set[str],
               malformed: bool) -> tuple[list[int], list[dict[str, Any]]]:
    """An account's fills as List Fills pages them (rendered, newest first) and their negated times."""
    markets = _markets(world)
    rows = [(t.time_ms, fill_json(markets[t.symbol], t)) for t in world.trades[account_id]
            if not products_wanted or t.symbol in products_wanted]
    if malformed:
        rows += [(r["time_ms"], r["fill"]) for r in bogus_fills(world, account_id)]
    ordered = sorted(rows, key=lambda x: -x[0])
    return [-ms for ms, _ in ordered], [r for _, r in ordered]


def _currency_account(world: World, account_id: str, wallet: str) -> str | None:
    return next((c for c in _currencies_of(world, account_id) if _uuid(account_id, c) == wallet), None)


def transaction_json(account_id: str, t: Transfer) -> dict[str, Any]:
    """A v2 transaction resource. `amount` is the account's own debit or credit, fee included: a send of
    t.amount with network fee t.fee debits t.amount + t.fee, the fee shown in network.transaction_fee
    (docs.cdp.coinbase.com/coinbase-app/track-apis/transactions, the send example). The documented example
    also carries the net network.transaction_amount (positive); the sends ccxt recorded from the list endpoint
    (ccxt coinbase.py parse_transaction) carry none: half the sends here have it, half not. A fiat withdrawal's
    transaction is its debit alone (the fee is on the linked withdrawal resource, not read)."""
    debit = t.amount + t.fee if t.kind == "withdrawal" else t.amount
    signed = debit if t.kind == "deposit" else -debit
    record: dict[str, Any] = {
        "id": _uuid("tx", t.id), "status": STATUS[t.status], "amount": {"amount": str(signed), "currency": t.coin},
        "native_amount": {"amount": str(signed), "currency": "USD"}, "description": None,
        "created_at": _iso(t.time_ms).replace(".000Z", "Z") if t.time_ms % 1000 == 0 else _iso(t.time_ms),
        "updated_at": _iso(t.time_ms + 600_000), "resource": "transaction",
        "resource_path": f"/v2/accounts/{_uuid(account_id, t.coin)}/transactions/{_uuid('tx', t.id)}",
    }
    if t.coin in FIAT:
        record.update(type="fiat_deposit" if t.kind == "deposit" else "fiat_withdrawal")
    else:
        network: dict[str, Any] = {"status": "confirmed" if t.status == "ok" else t.status, "hash": t.tx_id,
                                   "network_name": t.coin.lower()}
        if t.kind == "withdrawal":
            network["transaction_fee"] = {"amount": str(t.fee), "currency": t.coin}
            if int(hashlib.sha256(t.id.encode()).hexdigest(), 16) % 2:
                network["transaction_amount"] = {"amount": str(t.amount), "currency": t.coin}
            record["to"] = {"resource": "address", "address": t.address}
        else:
            record["from"] = {"resource": "bitcoin_network" if t.coin == "BTC" else "address"}
        record.update(type="send", network=network)
    return record


# The v2 transaction types of a move between the owner's own accounts, by the other account (out of the wallet
# into it, back into the wallet from it), docs.cdp.coinbase.com/coinbase-app/track-apis/transactions
WALLET_MOVE_TYPES = {"exchange": ("exchange_deposit", "exchange_withdrawal"), "pro": ("pro_deposit", "pro_withdrawal"),
                     "international": ("intx_deposit", "intx_withdrawal"), "vault": ("transfer", "vault_withdrawal"),
                     "staking": ("staking_transfer", "unstaking_transfer"),
                     "derivatives": ("derivatives_settlement", "derivatives_settlement"),
                     "account": ("transfer", "transfer")}


def wallet_move_json(account_id: str, m: WalletMove) -> dict[str, Any]:
    """A move to or from another of the owner's accounts as the wallet's own list shows it: signed for this
    wallet (a debit when the coins left it), no fee, no network."""
    signed = -m.amount if m.direction == "out" else m.amount
    tx_id = _uuid("move", m.id)
    return {"id": tx_id, "type": WALLET_MOVE_TYPES[m.wallet][0 if m.direction == "out" else 1], "status": "completed",
            "amount": {"amount": str(signed), "currency": m.coin},
            "native_amount": {"amount": str(signed), "currency": "USD"}, "description": None,
            "created_at": _iso(m.time_ms).replace(".000Z", "Z") if m.time_ms % 1000 == 0 else _iso(m.time_ms),
            "updated_at": _iso(m.time_ms), "resource": "transaction",
            "resource_path": f"/v2/accounts/{_uuid(account_id, m.coin)}/transactions/{tx_id}"}


def fill_transaction_json(account_id: str, market: Market, t: Trade, code: str) -> dict[str, Any]:
    """The v2 transaction an Advanced Trade fill leaves in one wallet: the list holds every movement of the
    wallet, so each fill appears twice, once in the base wallet (its size) and once in the quote wallet (its
    notional), signed for that wallet, with the fill's details under `advanced_trade_fill`; the commission is
    on the crypto side only and in neither amount (docs.cdp.coinbase.com/coinbase-app/track-apis/transactions,
    type advanced_trade_fill; a real account's layout as recorded in public reconciliation notes)."""
    base_side = code == market.base
    moved = t.qty if base_side else t.price * t.qty
    signed = moved if t.is_buyer == base_side else -moved
    notional = (t.price * t.qty).quantize(Decimal("0.01"))
    tx_id = _uuid("fill", t.id, code)
    record: dict[str, Any] = {
        "id": tx_id, "type": "advanced_trade_fill", "status": "completed",
        "amount": {"amount": str(signed), "currency": code},
        "native_amount": {"amount": str(notional if signed > 0 else -notional), "currency": "USD"},
        "created_at": _iso(t.time_ms).replace(".000Z", "Z") if t.time_ms % 1000 == 0 else _iso(t.time_ms),
        "updated_at": _iso(t.time_ms), "resource": "transaction",
        "resource_path": f"/v2/accounts/{_uuid(account_id, code)}/transactions/{tx_id}",
        "advanced_trade_fill": {"fill_price": str(t.price), "product_id": market.symbol,
                                "order_id": _uuid("order", t.order_id), "order_side": "buy" if t.is_buyer else "sell"},
    }
    if base_side:
        record["advanced_trade_fill"]["commission"] = str(t.commission)
    return record


def transactions(world: World, account_id: str, wallet: str, params: dict[str, str],
                 malformed: bool) -> dict[str, Any]:
    code = _currency_account(world, account_id, wallet)
    if code is None:
        raise CoinbaseError(404, "not_found", "Not found")
    ascending = params.get("order") == "asc"
    ordered, position = world.memo(("coinbase.transactions", account_id, code, malformed, ascending), account_id,
                                   lambda: _transaction_book(world, account_id, code, malformed, ascending))
    after = params.get("starting_after")
    if after:
        if after not in position:
            raise CoinbaseError(400, "invalid_request", "starting_after is not a known id")
        ordered = ordered[position[after] + 1:]
    limit = min(int(params.get("limit") or 25), MAX_TRANSACTIONS)
    page = ordered[:limit]
    more = len(ordered) > limit
    return {"pagination": {"ending_before": None, "starting_after": after, "limit": limit,
                           "order": "asc" if ascending else "desc", "previous_uri": None,
                           "next_uri": None, "next_starting_after": page[-1]["id"] if more else None},
            "data": page}


def _transaction_book(world: World, account_id: str, code: str, malformed: bool,
                      ascending: bool) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One wallet's v2 transactions as the list pages them (rendered, in the asked order) and where each id first
    stands in it (the `starting_after` cursor)."""
    rows = [(t.time_ms, transaction_json(account_id, t)) for t in world.transfers[account_id] if t.coin == code]
    rows += [(m.time_ms, wallet_move_json(account_id, m)) for m in world.wallet_moves[account_id] if m.coin == code]
    markets = _markets(world)
    rows += [(t.time_ms, fill_transaction_json(account_id, markets[t.symbol], t, code))
             for t in world.trades.get(account_id, []) if code in (markets[t.symbol].base, markets[t.symbol].quote)]
    if malformed:
        rows += [(r["time_ms"], r["record"]) for r in bogus_transactions(world, account_id) if r["coin"] == code]
    ordered = [r for _, r in sorted(rows, key=lambda x: x[0], reverse=not ascending)]
    position: dict[str, int] = {}
    for i, r in enumerate(ordered):
        position.setdefault(r["id"], i)
    return ordered, position


# ── orders (docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders: create-order, get-order,
# list-orders, cancel-orders) ───────────────────────────────────────────────────────────────────────────────
# On the venue's desk (sandbox/orders.py): a fill is booked as the account's trade, so List Fills shows it with the
# order's uuid as `order_id`. Create Order answers 200 with success true/false and the venue's error_response; a
# client_order_id already used returns the order that has it instead of creating a second (Coinbase: "If the ID
# provided is not unique, the order will not be created and the order with the existing ID will be returned").
ORDER_STATUS = {"open": "OPEN", "closed": "FILLED", "canceled": "CANCELLED", "expired": "EXPIRED"}
# What the engine refuses, as Create Order's error_response: (error, message, new_order_failure_reason).
REFUSALS = {
    "insufficient_balance": ("INSUFFICIENT_FUND", "Insufficient balance in source account", "INSUFFICIENT_FUND"),
    "min_notional": ("INVALID_LIMIT_PRICE", "Order size is too small", "UNKNOWN_FAILURE_REASON"),
    "no_liquidity": ("INVALID_NO_LIQUIDITY", "Insufficient liquidity", "INVALID_NO_LIQUIDITY"),
}


def _permission(world: World, request: Request) -> None:
    """A view-only key (no "trade" scope) cannot place or cancel: 403 PERMISSION_DENIED."""
    if not world.can_trade(request.headers.get("cb-access-key", "")):
        raise CoinbaseError(403, "PERMISSION_DENIED", "Missing required scopes")


def order_json(order: EngineOrder) -> dict[str, Any]:
    m = order.market
    filled, fee = order.filled, sum((f.fee for f in order.fills), Decimal(0))
    config = ({"limit_limit_gtc": {"base_size": str(order.amount), "limit_price": str(order.price),
                                   "post_only": False}} if order.type == "limit"
              else {"market_market_ioc": {"base_size": str(order.amount)}})
    last = max((f.time_ms for f in order.fills), default=None)
    return {
        "order_id": _uuid("order", order.id), "product_id": m.symbol, "user_id": _uuid("user", order.account_id),
        "order_configuration": config, "side": order.side.upper(), "client_order_id": order.client_order_id,
        "status": ORDER_STATUS[order.status],
        "time_in_force": "GOOD_UNTIL_CANCELLED" if order.type == "limit" else "IMMEDIATE_OR_CANCEL",
        "created_time": _iso(order.time_ms), "completion_percentage": str((filled / order.amount * 100).normalize()),
        "filled_size": str(filled), "average_filled_price": str(order.cost / filled if filled else Decimal(0)),
        "fee": "", "number_of_fills": str(len(order.fills)), "filled_value": str(order.cost), "pending_cancel": False,
        "size_in_quote": False, "total_fees": str(fee), "size_inclusive_of_fees": False,
        "total_value_after_fees": str(order.cost + fee if order.side == "buy" else order.cost - fee),
        "trigger_status": "INVALID_ORDER_TYPE", "order_type": order.type.upper(), "reject_reason": "",
        "settled": order.status != "open", "product_type": "SPOT", "reject_message": "", "cancel_message": "",
        "order_placement_source": "RETAIL_ADVANCED", "outstanding_hold_amount": str(order.locked),
        "is_liquidation": False, "last_fill_time": _iso(last) if last else None,
    }


def _order_by_uuid(world: World, account_id: str, order_id: str) -> EngineOrder:
    found = next((o for o in desk(world).orders_of(PREFIX, account_id) if _uuid("order", o.id) == order_id), None)
    if found is None:
        raise CoinbaseError(404, "NOT_FOUND", "order with this orderID was not found")
    return found


def create_order(world: World, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    market = _markets(world).get(str(body.get("product_id", "")))
    side, client_id = str(body.get("side", "")).lower(), str(body.get("client_order_id") or "")
    config = body.get("order_configuration") or {}
    if market is None or side not in ("buy", "sell") or not client_id or len(config) != 1:
        raise CoinbaseError(400, "INVALID_ARGUMENT", "product_id, side, client_order_id and one "
                            "order_configuration are required")
    (kind, spec), = config.items()
    if kind not in ("limit_limit_gtc", "market_market_ioc") or "base_size" not in spec:
        return _failed(body, "UNSUPPORTED_ORDER_CONFIGURATION", "order configuration is not supported here",
                       "UNSUPPORTED_ORDER_CONFIGURATION")
    size = Decimal(str(spec["base_size"]))
    price = Decimal(str(spec["limit_price"])) if kind == "limit_limit_gtc" else None
    try:
        order = desk(world).place(account_id, market, side, "limit" if price is not None else "market", size, price,
                                  client_id)
    except OrderRefused as exc:
        if exc.reason == "duplicate" and exc.existing is not None:
            order = exc.existing  # the order with that client_order_id, not a second one
        elif exc.reason == "precision":
            reason = "INVALID_SIZE_PRECISION" if str(exc).startswith("amount") else "INVALID_PRICE_PRECISION"
            return _failed(body, reason, str(exc), reason)
        else:
            return _failed(body, *REFUSALS.get(exc.reason, ("UNKNOWN_FAILURE_REASON", str(exc),
                                                            "UNKNOWN_FAILURE_REASON")))
    order_id = _uuid("order", order.id)
    return {"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": order_id,
            "success_response": {"order_id": order_id, "product_id": market.symbol, "side": order.side.upper(),
                                 "client_order_id": order.client_order_id},
            "order_configuration": config}


def _failed(body: dict[str, Any], error: str, message: str, reason: str) -> dict[str, Any]:
    return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
            "error_response": {"error": error, "message": message, "error_details": "",
                               "new_order_failure_reason": reason},
            "order_configuration": body.get("order_configuration")}


def list_orders(world: World, account_id: str, query: str) -> dict[str, Any]:
    """List Orders: product_ids / product_id, order_status (repeatable), limit, cursor; newest first."""
    pairs = _pairs(query)
    products_wanted = {v for k, v in pairs if k in ("product_id", "product_ids")}
    statuses = {v for k, v in pairs if k == "order_status"}
    params = dict(pairs)
    limit, offset = min(int(params.get("limit") or 100), 1000), int(params.get("cursor") or 0)
    chosen = [o for o in sorted(desk(world).orders_of(PREFIX, account_id), key=lambda o: -o.id)
              if (not products_wanted or o.market.symbol in products_wanted)
              and (not statuses or ORDER_STATUS[o.status] in statuses)]
    page, more = chosen[offset:offset + limit], offset + limit < len(chosen)
    return {"orders": [order_json(o) for o in page], "sequence": "0", "has_next": more,
            "cursor": str(offset + limit) if more else ""}


def cancel_orders(world: World, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    results = []
    for order_id in body.get("order_ids") or []:
        try:
            order = _order_by_uuid(world, account_id, str(order_id))
            desk(world).cancel(PREFIX, account_id, order.id)
            results.append({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order_id})
        except CoinbaseError:
            results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": order_id})
        except OrderRefused:
            results.append({"success": False, "failure_reason": "INVALID_CANCEL_REQUEST", "order_id": order_id})
    return {"results": results}


def order_route(world: World, account_id: str, request: Request) -> tuple[int, Any] | None:
    path = request.path
    if path == "/api/v3/brokerage/orders" and request.method == "POST":
        _permission(world, request)
        return 200, create_order(world, account_id, json.loads(request.raw_body or "{}"))
    if path == "/api/v3/brokerage/orders/batch_cancel" and request.method == "POST":
        _permission(world, request)
        return 200, cancel_orders(world, account_id, json.loads(request.raw_body or "{}"))
    if path == "/api/v3/brokerage/orders/historical/batch":
        return 200, list_orders(world, account_id, request.raw_query)
    prefix = "/api/v3/brokerage/orders/historical/"
    if path.startswith(prefix) and "/" not in path.removeprefix(prefix) and path != prefix + "fills":
        return 200, {"order": order_json(_order_by_uuid(world, account_id, path.removeprefix(prefix)))}
    return None


# ── malformed records (malformed=True only) ───────────────────────────────────────────────────────────────
def bogus_fills(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "acme-coinbase" or len(world.trades.get(account_id, [])) < 10:
        return []
    base = world.trades[account_id][9]
    fill = fill_json(_markets(world)[base.symbol], base)
    fill.update(trade_id=str(base.id + 1), size="-0.75", trade_time=_iso(base.time_ms + 1000))
    return [{"time_ms": base.time_ms + 1000, "fill": fill}]


def bogus_transactions(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "acme-coinbase":
        return []
    deposit = next((t for t in world.transfers[account_id] if t.kind == "deposit" and t.coin == "USD"), None)
    if deposit is None:
        return []
    record = transaction_json(account_id, deposit)
    when = START_MS + 150 * 86_400_000
    record.update(id=_uuid("bogus", account_id), status="completed", created_at=_iso(when),
                  subtotal={"amount": "120.00", "currency": "USD"}, amount={"amount": "120.00", "currency": "USD"},
                  fee={"amount": "-5.00", "currency": "USD"})  # a deposit whose fee is negative
    return [{"time_ms": when, "coin": "USD", "record": record}]


def malformed_truth(world: World) -> dict[str, list[dict[str, Any]]]:
    markets = _markets(world)
    trades = [{"venue": PREFIX, "account_id": a.account_id, "symbol": markets[r["fill"]["product_id"]].unified,
               "id": r["fill"]["trade_id"]} for a in world.venue_accounts(PREFIX)
              for r in bogus_fills(world, a.account_id)]
    deposits = [{"venue": PREFIX, "account_id": a.account_id, "id": r["record"]["id"]}
                for a in world.venue_accounts(PREFIX) for r in bogus_transactions(world, a.account_id)]
    return {"trades": trades, "deposits": deposits}


# ── routing ───────────────────────────────────────────────────────────────────────────────────────────────
def dispatch(world: World, request: Request, *, malformed: bool) -> tuple[int, Any]:
    path, params, query = request.path, request.params, request.raw_query
    try:
        if path in ("/v2/time", "/api/v3/brokerage/time"):
            return 200, {"data": {"iso": _iso(END_MS), "epoch": END_MS // 1000},
                         "iso": _iso(END_MS), "epochSeconds": str(END_MS // 1000), "epochMillis": str(END_MS)}
        if path == "/v2/currencies":
            return 200, currencies(world, crypto=False)
        if path == "/v2/currencies/crypto":
            return 200, currencies(world, crypto=True)
        if path == "/v2/exchange-rates":
            return 200, exchange_rates(world)
        if path in ("/api/v3/brokerage/market/products", "/api/v3/brokerage/products"):
            if path == "/api/v3/brokerage/products":
                authenticate(world, request)
            return 200, products(world, params, query)
        if path in ("/api/v3/brokerage/market/product_book", "/api/v3/brokerage/product_book"):
            market = _markets(world).get(params.get("product_id", ""))
            if market is None:
                raise CoinbaseError(404, "NOT_FOUND", "product not found")
            return 200, books.coinbase_product_book(world, market, min(int(params.get("limit") or 50), 500),
                                                    _iso(END_MS))
        for prefix in ("/api/v3/brokerage/market/products/", "/api/v3/brokerage/products/"):
            if path.startswith(prefix) and path.endswith("/ticker"):  # one product: its last trade, best bid/ask
                market = _markets(world).get(path.removeprefix(prefix).removesuffix("/ticker"))
                if market is None:
                    raise CoinbaseError(404, "NOT_FOUND", "product not found")
                last, spread = _mid(world, market), market.tick * 2
                trade = {"trade_id": "1", "product_id": market.symbol, "price": str(last), "size": str(market.step),
                         "time": _iso(END_MS), "side": "BUY", "bid": "", "ask": ""}
                return 200, {"trades": [trade], "best_bid": str(last - spread), "best_ask": str(last + spread)}
            if path.startswith(prefix) and path.endswith("/candles"):
                if prefix == "/api/v3/brokerage/products/":
                    authenticate(world, request)
                return 200, product_candles(world, path.removeprefix(prefix).removesuffix("/candles"), params)
        if path.startswith(("/api/v3/brokerage/", "/v2/")):
            account_id = authenticate(world, request)
            if path == "/api/v3/brokerage/transaction_summary":
                return 200, {"total_volume": 0, "total_fees": 0, "fee_tier": {
                    "pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "10000", "taker_fee_rate": "0.006",
                    "maker_fee_rate": "0.004"}, "margin_rate": None, "goods_and_services_tax": None,
                    "advanced_trade_only_volume": 0, "advanced_trade_only_fees": 0, "coinbase_pro_volume": 0,
                    "coinbase_pro_fees": 0}
            if path == "/api/v3/brokerage/accounts":
                return 200, accounts(world, account_id)
            if path == "/api/v3/brokerage/orders/historical/fills":
                return 200, fills(world, account_id, query, malformed)
            routed = order_route(world, account_id, request)
            if routed is not None:
                return routed
            if path.startswith("/v2/accounts/") and path.endswith("/transactions"):
                wallet = path.split("/")[3]
                return 200, transactions(world, account_id, wallet, params, malformed)
        return 404, {"error": "NOT_FOUND", "error_details": f"no route {path}", "message": "Not Found"}
    except CoinbaseError as exc:
        return exc.status, exc.body()
    except (ValueError, KeyError):
        return 400, {"error": "INVALID_ARGUMENT", "error_details": "invalid arguments", "message": "invalid"}
