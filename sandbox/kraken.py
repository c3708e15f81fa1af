"""Kraken spot REST (api.kraken.com/0/...), as far as ccxt's `kraken` class uses it for an account's books.

Kraken's own conventions, kept: X/Z-prefixed asset ids (XXBT, ZUSD), pair ids like XXBTZUSD, times in
(fractional) seconds, every answer {"error": [...], "result": ...} with HTTP 200, private calls as POST forms
signed with API-Sign = base64(HMAC-SHA512(path + SHA256(nonce + body), base64-decoded secret)) and an
increasing nonce per key. TradesHistory returns at most 50 trades, newest first, with `ofs` paging, exactly
like the real API, so a connector must page or split its windows.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
from decimal import Decimal
from typing import Any

from sandbox import books
from sandbox.binance import Request, candles
from sandbox.matching import EngineOrder, OrderRefused
from sandbox.orders import desk
from sandbox.world import END_MS, START_MS, Market, Reward, Trade, Transfer, WalletMove, World

PREFIX = "kraken"
PAGE = 50  # Kraken's page size for TradesHistory / Ledgers
ASSET_ID = {"BTC": "XXBT", "ETH": "XETH", "USD": "ZUSD", "SOL": "SOL", "USDT": "USDT", "BNB": "BNB"}
ALTNAME = {"XXBT": "XBT", "XETH": "ETH", "ZUSD": "USD"}
UNIFIED = {v: k for k, v in ASSET_ID.items()}
STATUS = {"ok": "Success", "pending": "Pending", "failed": "Failure", "canceled": "Failure"}
INTERVALS = {1: "1m", 5: "5m", 15: "15m", 60: "1h", 240: "4h", 1440: "1d"}
NONCE_WINDOW = 10_000  # how far behind the last nonce a request may be (Kraken's "nonce window" key setting)


class KrakenError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _ok(result: Any) -> tuple[int, Any]:
    return 200, {"error": [], "result": result}


def _txid(prefix: str, number: int) -> str:
    """Kraken-looking ids (e.g. 'THVRQM-33VKH-UCI7BS'), deterministic per record."""
    digest = hashlib.sha256(f"{prefix}{number}".encode()).hexdigest().upper()
    return f"{prefix}{digest[:5]}-{digest[5:10]}-{digest[10:16]}"


def _secs(ms: int) -> float:
    return round(ms / 1000, 4)


def _markets(world: World) -> dict[str, Market]:
    return {m.symbol: m for m in world.markets(PREFIX)}


# ── public ────────────────────────────────────────────────────────────────────────────────────────────────
def assets(world: World) -> dict[str, Any]:
    codes = sorted({c for m in world.markets(PREFIX) for c in (m.base, m.quote)})
    return {ASSET_ID[c]: {"aclass": "currency", "altname": ALTNAME.get(ASSET_ID[c], ASSET_ID[c]),
                          "decimals": 10 if c != "USD" else 4, "display_decimals": 5, "status": "enabled"}
            for c in codes}


def asset_pairs(world: World) -> dict[str, Any]:
    out = {}
    for m in world.markets(PREFIX):
        base, quote = ASSET_ID[m.base], ASSET_ID[m.quote]
        alt = ALTNAME.get(base, base) + ALTNAME.get(quote, quote)
        out[m.symbol] = {
            "altname": alt, "wsname": f"{ALTNAME.get(base, base)}/{ALTNAME.get(quote, quote)}",
            "aclass_base": "currency", "base": base, "aclass_quote": "currency", "quote": quote, "lot": "unit",
            "cost_decimals": 5, "pair_decimals": -m.tick.as_tuple().exponent,
            "lot_decimals": -m.step.as_tuple().exponent, "lot_multiplier": 1, "leverage_buy": [],
            "leverage_sell": [], "fees": [[0, 0.26], [50000, 0.24]], "fees_maker": [[0, 0.16], [50000, 0.14]],
            "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40, "ordermin": str(m.step * 10),
            "costmin": str(m.min_notional), "tick_size": str(m.tick), "status": "online",
        }
    return out


def _pairs(world: World, params: dict[str, str]) -> list[Market]:
    markets = _markets(world)
    by_alt = {v["altname"]: k for k, v in asset_pairs(world).items()}
    wanted = [p for p in params.get("pair", "").split(",") if p] or list(markets)
    out = []
    for pair in wanted:
        symbol = pair if pair in markets else by_alt.get(pair)
        if symbol is None:
            raise KrakenError("EQuery:Unknown asset pair")
        out.append(markets[symbol])
    return out


def ticker(world: World, market: Market) -> dict[str, Any]:
    day = candles(world, market, "1d", None, END_MS, 1)[0]
    last = Decimal(str(world.prices.market_close(market, world.prices.hours - 1))).quantize(market.tick)
    spread = market.tick * 2
    return {"a": [str(last + spread), "1", "1.000"], "b": [str(last - spread), "2", "2.000"],
            "c": [str(last), str(market.step * 10)], "v": [day[5], day[5]], "p": [str(last), str(last)],
            "t": [1000, 1000], "l": [day[3], day[3]], "h": [day[2], day[2]], "o": day[1]}


def ohlc(world: World, params: dict[str, str]) -> dict[str, Any]:
    market = _pairs(world, {"pair": params.get("pair", "")})[0] if params.get("pair") else None
    if market is None:
        raise KrakenError("EGeneral:Invalid arguments")
    interval = INTERVALS.get(int(params.get("interval") or 1))
    if interval is None:
        raise KrakenError("EGeneral:Invalid arguments:interval")
    since = params.get("since")
    start = (int(float(since)) + 1) * 1000 if since else None  # since is exclusive
    rows = candles(world, market, interval, start, None, 720)  # Kraken serves at most 720 points
    data = [[r[0] // 1000, r[1], r[2], r[3], r[4], r[4], r[5], 100] for r in rows]
    return {market.symbol: data, "last": data[-1][0] if data else 0}


def depth(world: World, params: dict[str, str]) -> dict[str, Any]:
    return books.kraken_depth(world, _pairs(world, params)[0], min(int(params.get("count") or 100), 500))


# ── private ───────────────────────────────────────────────────────────────────────────────────────────────
_last_nonce: dict[str, int] = {}


def authenticate(world: World, request: Request) -> str:
    key = request.headers.get("api-key", "")
    account_id = world.account_by_key(key, PREFIX)
    if account_id is None:
        raise KrakenError("EAPI:Invalid key")
    nonce_text = request.params.get("nonce", "")
    if not nonce_text.isdigit():
        raise KrakenError("EAPI:Invalid nonce")
    secret = base64.b64decode(world.secret_of(key))
    digest = hashlib.sha256((nonce_text + request.raw_body).encode()).digest()
    expected = base64.b64encode(hmac.new(secret, request.path.encode() + digest, hashlib.sha512).digest()).decode()
    if not hmac.compare_digest(expected, request.headers.get("api-sign", "")):
        raise KrakenError("EAPI:Invalid key")  # what Kraken answers to a bad signature as well
    nonce = int(nonce_text)
    if nonce <= _last_nonce.get(key, 0) - NONCE_WINDOW:
        raise KrakenError("EAPI:Invalid nonce")
    _last_nonce[key] = max(nonce, _last_nonce.get(key, 0))
    return account_id


def staked_id(coin: str, suffix: str = "S") -> str:
    """A staked balance's own asset id: the altname with '.S' (XBT.S, ETH.S, DOT.S), as Balance lists it; an Earn
    balance's with its product's suffix (.B bonded / yield-bearing, .F Auto Earn: docs.kraken.com, Get Ledgers
    Info, "Note on Staking/Earn assets")."""
    return f"{ALTNAME.get(ASSET_ID[coin], ASSET_ID[coin])}.{suffix}"


# Kraken Earn, as the world names its wallets: the balance's suffix, and the ledger subtype of a move into it
# (type `earn`; the way back is a `deallocation`). Kraken writes allocations of Auto Earn as `autoallocation`.
EARN_WALLETS = {"earn": ("B", "allocation"), "autoearn": ("F", "autoallocation")}


def balance_ex(world: World, account_id: str) -> dict[str, Any]:
    """Spot balances, and staked ones under their own ids (Kraken's Balance lists both; the futures wallet is
    another API's)."""
    amounts = {ASSET_ID[a]: q for a, q in world.reported_balances(account_id).items()}
    amounts |= {staked_id(c): q for (w, c), q in world.other_wallets(account_id).items() if w == "staking"}
    amounts |= {staked_id(c, EARN_WALLETS[w][0]): q for (w, c), q in world.other_wallets(account_id).items()
                if w in EARN_WALLETS}
    return {a: {"balance": f"{q:.10f}", "credit": "0.0000", "credit_used": "0.0000", "hold_trade": "0.0000000000"}
            for a, q in sorted(amounts.items())}


def ledger_entries(m: WalletMove) -> list[tuple[str, dict[str, Any]]]:
    """A wallet move as Kraken's ledger writes it (type transfer): one entry per wallet whose balance changed,
    sharing the refid; the subtype names the entry's own wallet, then the other (spottostaking /
    stakingfromspot, spotfromfutures, …). The futures wallet's own side is in the futures API, not here.
    A move into Kraken Earn is type `earn`, subtype allocation (autoallocation for Auto Earn) or deallocation:
    the spot entry under the coin's id, the Earn entry under the Earn balance's id (DOT.B, USDC.F)."""
    sign = -1 if m.direction == "out" else 1
    if m.wallet in EARN_WALLETS:
        suffix, allocation = EARN_WALLETS[m.wallet]
        common = {"refid": _txid("R", m.id), "time": _secs(m.time_ms), "type": "earn", "aclass": "currency",
                  "subtype": allocation if sign < 0 else "deallocation", "fee": "0.0000000000"}
        return [(_txid("L", 2 * m.id), {**common, "asset": ASSET_ID[m.coin], "amount": f"{sign * m.amount:.10f}",
                                        "balance": f"{m.spot_after:.10f}"}),
                (_txid("L", 2 * m.id + 1), {**common, "asset": staked_id(m.coin, suffix),
                                            "amount": f"{-sign * m.amount:.10f}", "balance": f"{m.other_after:.10f}"})]
    common = {"refid": _txid("R", m.id), "time": _secs(m.time_ms), "type": "transfer", "aclass": "currency",
              "fee": "0.0000000000"}
    spot = {**common, "subtype": f"spot{'to' if sign < 0 else 'from'}{m.wallet}", "asset": ASSET_ID[m.coin],
            "amount": f"{sign * m.amount:.10f}", "balance": f"{m.spot_after:.10f}"}
    entries = [(_txid("L", 2 * m.id), spot)]
    if m.wallet == "staking":
        entries.append((_txid("L", 2 * m.id + 1), {
            **common, "subtype": f"staking{'from' if sign < 0 else 'to'}spot", "asset": staked_id(m.coin),
            "amount": f"{-sign * m.amount:.10f}", "balance": f"{m.other_after:.10f}"}))
    return entries


def reward_entry(r: Reward) -> tuple[str, dict[str, Any]]:
    """An Earn reward as Kraken's ledger writes it: type `earn`, subtype `reward`, credited to the balance that
    earned it (DOT.B for bonded Earn, which compounds) or to spot (ETH rewards are paid unstaked). The balance
    after it is the world's business, not the books': left at zero here."""
    asset = ASSET_ID[r.coin] if r.wallet == "spot" else staked_id(r.coin, EARN_WALLETS[r.wallet][0])
    return _txid("L", 2 * r.id), {"refid": _txid("R", r.id), "time": _secs(r.time_ms), "type": "earn",
                                  "subtype": "reward", "aclass": "currency", "asset": asset,
                                  "amount": f"{r.amount:.10f}", "fee": "0.0000000000", "balance": "0.0000000000"}


def ledgers(world: World, account_id: str, params: dict[str, str]) -> dict[str, Any]:
    """POST /0/private/Ledgers: `type` (all, trade, deposit, withdrawal, transfer, earn, …), start (exclusive) /
    end (inclusive) in seconds, `ofs`; 50 entries a page, newest first, with the count. Only wallet moves and
    Earn rewards live here: trades, deposits and withdrawals are read from their own endpoints."""
    start, end = _window(params)
    kind = params.get("type", "all")
    entries = [(m.time_ms, lid, e) for m in world.wallet_moves[account_id] for lid, e in ledger_entries(m)]
    entries += [(r.time_ms, *reward_entry(r)) for r in world.rewards[account_id]]
    ofs = int(params.get("ofs") or 0)
    chosen = sorted(((at, lid, e) for at, lid, e in entries
                     if kind in ("all", e["type"]) and start < at / 1000 <= end),
                    key=lambda r: (r[0], r[1]), reverse=True)
    return {"ledger": {lid: e for _, lid, e in chosen[ofs:ofs + PAGE]}, "count": len(chosen)}


def trade_json(market: Market, t: Trade) -> dict[str, Any]:
    return {"ordertxid": _txid("O", t.order_id), "postxid": _txid("P", t.id), "pair": market.symbol,
            "aclass": "forex", "time": _secs(t.time_ms), "type": "buy" if t.is_buyer else "sell",
            "ordertype": "limit", "price": str(t.price), "cost": str(t.quote_qty), "fee": str(t.commission),
            "vol": str(t.qty), "margin": "0.00000", "leverage": "0", "misc": "", "trade_id": t.id,
            "maker": t.is_maker}


def _window(params: dict[str, str]) -> tuple[float, float]:
    """Kraken's start is exclusive and end inclusive, both in (fractional) seconds."""
    start = float(params["start"]) if params.get("start") else float("-inf")
    end = float(params["end"]) if params.get("end") else float("inf")
    return start, end


def trades_history(world: World, account_id: str, params: dict[str, str], malformed: bool) -> dict[str, Any]:
    start, end = _window(params)
    ofs = int(params.get("ofs") or 0)
    negated, records = world.memo(("kraken.trades", account_id, malformed), account_id,
                                  lambda: _trade_book(world, account_id, malformed))
    # newest first: the window (start, end] is one run of the list, found on the negated times in seconds
    chosen = records[bisect.bisect_left(negated, -end):bisect.bisect_left(negated, -start)]
    return {"trades": {txid: record for txid, record in chosen[ofs:ofs + PAGE]}, "count": len(chosen)}


def _trade_book(world: World, account_id: str,
                malformed: bool) -> tuple[list[float], list[tuple[str, dict[str, Any]]]]:
    """An account's trades as TradesHistory pages them ((txid, rendered), newest first) and their negated times in
    seconds (the window compares ms / 1000 with its bounds)."""
    markets = _markets(world)
    records = [(t.time_ms, _txid("T", t.id), trade_json(markets[t.symbol], t)) for t in world.trades[account_id]]
    if malformed:
        records += [(r["time_ms"], r["txid"], r["record"]) for r in bogus_trades(world, account_id)]
    ordered = sorted(records, key=lambda r: r[0], reverse=True)
    return [-(ms / 1000) for ms, _, _ in ordered], [(txid, record) for _, txid, record in ordered]


def transfer_json(t: Transfer) -> dict[str, Any]:
    record = {"method": t.coin if t.coin != "USD" else "Bank Frick (SWIFT)", "aclass": "currency",
              "asset": ASSET_ID[t.coin], "refid": _txid("F", int(hashlib.sha256(t.id.encode()).hexdigest()[:8], 16)),
              "txid": t.tx_id, "info": t.address, "amount": str(t.amount), "fee": str(t.fee),
              "time": t.time_ms // 1000, "status": STATUS[t.status]}
    if t.status == "canceled":
        record["status-prop"] = "canceled"
    return record


def transfers(world: World, account_id: str, kind: str, params: dict[str, str], malformed: bool) -> list[Any]:
    start, end = _window(params)
    wanted = UNIFIED.get(params.get("asset", "")) if params.get("asset") else None
    records = [(t.time_ms, transfer_json(t)) for t in world.transfers[account_id]
               if t.kind == kind and (wanted is None or t.coin == wanted)]
    if malformed and kind == "deposit":
        records += [(r["time_ms"], r["record"]) for r in bogus_deposits(world, account_id)]
    return [r for ms, r in sorted(records, key=lambda x: x[0], reverse=True) if start < ms / 1000 <= end]


# ── malformed records (malformed=True only): parse in ccxt, fail the quality gate ──────────────────────────
def bogus_trades(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "acme-kraken" or not world.trades.get(account_id):
        return []
    base = world.trades[account_id][7]
    market = _markets(world)[base.symbol]
    record = trade_json(market, base)
    record.update(vol="-0.25000000", time=_secs(base.time_ms + 1000), trade_id=base.id + 1)
    return [{"time_ms": base.time_ms + 1000, "txid": _txid("T", base.id + 1), "record": record}]


def bogus_deposits(world: World, account_id: str) -> list[dict[str, Any]]:
    if account_id != "acme-kraken":
        return []
    deposit = next((t for t in world.transfers[account_id] if t.kind == "deposit"), None)
    if deposit is None:
        return []
    record = transfer_json(deposit)
    record.update(refid="FBOGUS-KRAKN-DEPOS1", amount="-75.0000", time=(START_MS + 120 * 86_400_000) // 1000)
    return [{"time_ms": START_MS + 120 * 86_400_000, "record": record}]


def malformed_truth(world: World) -> dict[str, list[dict[str, Any]]]:
    """The bogus records above, as the tests expect to find them quarantined."""
    markets = _markets(world)
    trades = []
    for account in world.venue_accounts(PREFIX):
        for r in bogus_trades(world, account.account_id):
            trades.append({"venue": PREFIX, "account_id": account.account_id,
                           "symbol": markets[r["record"]["pair"]].unified, "id": r["txid"]})
    deposits = [{"venue": PREFIX, "account_id": a.account_id, "id": r["record"]["refid"]}
                for a in world.venue_accounts(PREFIX) for r in bogus_deposits(world, a.account_id)]
    return {"trades": trades, "deposits": deposits}


# ── routing ───────────────────────────────────────────────────────────────────────────────────────────────
# ── orders (docs.kraken.com/api-reference/trading: AddOrder, QueryOrders, OpenOrders, ClosedOrders, CancelOrder) ──
# On the venue's desk (sandbox/orders.py): fills are booked as the account's trades, listed by TradesHistory with the
# order's txid as `ordertxid`. A client order id (`cl_ord_id`) is unique among the account's orders.
ORDER_STATUS = {"open": "open", "closed": "closed", "canceled": "canceled", "expired": "expired"}


def _order_txid(order: EngineOrder) -> str:
    return _txid("O", order.id)


def _volume(params: dict[str, str], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except ArithmeticError:
        raise KrakenError(f"EGeneral:Invalid arguments:{name}") from None


def order_json(world: World, order: EngineOrder, with_trades: bool) -> dict[str, Any]:
    m = order.market
    base, quote = ASSET_ID[m.base], ASSET_ID[m.quote]
    alt = ALTNAME.get(base, base) + ALTNAME.get(quote, quote)
    limit = f"{order.price}" if order.price is not None else "0"
    fee = sum((f.fee for f in order.fills), Decimal(0))
    average = order.cost / order.filled if order.filled else Decimal(0)
    record: dict[str, Any] = {
        "refid": None, "userref": 0, "cl_ord_id": order.client_order_id, "status": ORDER_STATUS[order.status],
        "opentm": _secs(order.time_ms), "starttm": 0, "expiretm": 0,
        "descr": {"pair": alt, "type": order.side, "ordertype": order.type, "price": limit, "price2": "0",
                  "leverage": "none", "order": f"{order.side} {order.amount:.8f} {alt} @ {order.type} {limit}",
                  "close": ""},
        "vol": f"{order.amount:.8f}", "vol_exec": f"{order.filled:.8f}", "cost": f"{order.cost:.5f}",
        "fee": f"{fee:.5f}", "price": f"{average.quantize(m.tick)}", "stopprice": "0.00000", "limitprice": "0.00000",
        "misc": "", "oflags": "fciq",
    }
    if order.status != "open":
        record["closetm"] = _secs(max((f.time_ms for f in order.fills), default=order.time_ms))
        record["reason"] = "User requested" if order.status == "canceled" else None
    if with_trades:
        record["trades"] = [_txid("T", t) for t in desk(world).trade_ids.get((PREFIX, order.id), [])]
    return record


def add_order(world: World, account_id: str, params: dict[str, str]) -> dict[str, Any]:
    market = _markets(world).get(params.get("pair", ""))
    if market is None:
        raise KrakenError("EQuery:Unknown asset pair")
    side, type_ = params.get("type"), params.get("ordertype")
    if side not in ("buy", "sell") or type_ not in ("limit", "market"):
        raise KrakenError("EGeneral:Invalid arguments:type" if side not in ("buy", "sell")
                          else "EGeneral:Invalid arguments:ordertype")
    volume, price = _volume(params, "volume"), _volume(params, "price")
    if volume is None or (type_ == "limit" and price is None):
        raise KrakenError("EGeneral:Invalid arguments")
    if volume < market.step * 10:  # AssetPairs' ordermin
        raise KrakenError("EOrder:Order minimum not met")
    try:
        order = desk(world).place(account_id, market, side, type_, volume, price if type_ == "limit" else None,
                                  params.get("cl_ord_id") or f"userref-{params.get('userref', '')}-{params['nonce']}")
    except OrderRefused as exc:
        raise KrakenError(KRAKEN_REFUSAL.get(exc.reason, "EGeneral:Invalid arguments")
                          if exc.reason != "precision" else
                          ("EGeneral:Invalid arguments:volume" if str(exc).startswith("amount")
                           else "EGeneral:Invalid arguments:price")) from None
    return {"descr": {"order": order_json(world, order, False)["descr"]["order"]}, "txid": [_order_txid(order)]}


# What the engine refuses, in Kraken's words; "EOrder:Duplicate order" is the string clients match a reused
# cl_ord_id on (the docs say cl_ord_id is unique among open orders, without the message).
KRAKEN_REFUSAL = {"insufficient_balance": "EOrder:Insufficient funds", "min_notional": "EOrder:Cost minimum not met",
                  "duplicate": "EOrder:Duplicate order"}


def query_orders(world: World, account_id: str, params: dict[str, str]) -> dict[str, Any]:
    wanted = [t for t in params.get("txid", "").split(",") if t]
    if not wanted:
        raise KrakenError("EGeneral:Invalid arguments")
    mine = {_order_txid(o): o for o in desk(world).orders_of(PREFIX, account_id)}
    if any(t not in mine for t in wanted):
        raise KrakenError("EOrder:Invalid order")
    with_trades = params.get("trades") in ("true", "True", "1")
    return {t: order_json(world, mine[t], with_trades) for t in wanted}


def listed_orders(world: World, account_id: str, params: dict[str, str], is_open: bool) -> dict[str, Any]:
    """OpenOrders / ClosedOrders, filtered by cl_ord_id or userref as Kraken does; ClosedOrders newest first, 50 a
    page with `ofs`."""
    chosen = [o for o in desk(world).orders_of(PREFIX, account_id) if (o.status == "open") == is_open
              and (not params.get("cl_ord_id") or o.client_order_id == params["cl_ord_id"])]
    chosen.sort(key=lambda o: o.id, reverse=True)
    with_trades = params.get("trades") in ("true", "True", "1")
    if is_open:
        return {"open": {_order_txid(o): order_json(world, o, with_trades) for o in chosen}}
    ofs = int(params.get("ofs") or 0)
    return {"closed": {_order_txid(o): order_json(world, o, with_trades) for o in chosen[ofs:ofs + PAGE]},
            "count": len(chosen)}


def cancel_order(world: World, account_id: str, params: dict[str, str]) -> dict[str, Any]:
    mine = desk(world).orders_of(PREFIX, account_id)
    if params.get("cl_ord_id"):
        found = [o for o in mine if o.client_order_id == params["cl_ord_id"]]
    else:
        found = [o for o in mine if _order_txid(o) == params.get("txid")]
    if not found:
        raise KrakenError("EOrder:Unknown order")
    try:
        desk(world).cancel(PREFIX, account_id, found[0].id)
    except OrderRefused:
        raise KrakenError("EOrder:Unknown order") from None
    return {"count": 1}


ORDER_ENDPOINTS = {"AddOrder": add_order, "QueryOrders": query_orders, "CancelOrder": cancel_order,
                   "OpenOrders": lambda w, a, p: listed_orders(w, a, p, True),
                   "ClosedOrders": lambda w, a, p: listed_orders(w, a, p, False)}


TRADING_ENDPOINTS = ("AddOrder", "CancelOrder")  # the order queries need only the key's query permission


def dispatch(world: World, request: Request, *, malformed: bool) -> tuple[int, Any]:
    path, params = request.path, request.params
    try:
        if path == "/0/public/Time":
            return _ok({"unixtime": END_MS // 1000, "rfc1123": ""})
        if path == "/0/public/Assets":
            return _ok(assets(world))
        if path == "/0/public/AssetPairs":
            return _ok(asset_pairs(world))
        if path == "/0/public/Ticker":
            return _ok({m.symbol: ticker(world, m) for m in _pairs(world, params)})
        if path == "/0/public/OHLC":
            return _ok(ohlc(world, params))
        if path == "/0/public/Depth":
            return _ok(depth(world, params))
        if path.startswith("/0/private/"):
            if request.method != "POST":
                raise KrakenError("EGeneral:Invalid arguments")
            account_id = authenticate(world, request)
            endpoint = path.removeprefix("/0/private/")
            if endpoint in ("BalanceEx", "Balance"):
                result = balance_ex(world, account_id)
                return _ok(result if endpoint == "BalanceEx" else {k: v["balance"] for k, v in result.items()})
            if endpoint == "Ledgers":
                return _ok(ledgers(world, account_id, params))
            if endpoint == "TradesHistory":
                return _ok(trades_history(world, account_id, params, malformed))
            if endpoint == "DepositStatus":
                return _ok(transfers(world, account_id, "deposit", params, malformed))
            if endpoint == "WithdrawStatus":
                return _ok(transfers(world, account_id, "withdrawal", params, malformed))
            if endpoint in TRADING_ENDPOINTS and not world.can_trade(request.headers.get("api-key", "")):
                raise KrakenError("EGeneral:Permission denied")  # a key without "Create & modify orders"
            if endpoint in ORDER_ENDPOINTS:
                return _ok(ORDER_ENDPOINTS[endpoint](world, account_id, params))
        return 404, {"error": ["EGeneral:Unknown method"]}
    except KrakenError as exc:
        return 200, {"error": [exc.message]}
    except (ValueError, KeyError):
        return 200, {"error": ["EGeneral:Invalid arguments"]}
