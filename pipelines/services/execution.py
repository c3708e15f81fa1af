"""Sending approved proposals (issue 18 §1): approved → sent → filled / partially filled / failed.

`send(wh, clients, proposal_id)`:
  1. only an approved proposal is sent (a sent or partially filled one is looked at again: see below); never while
     its portfolio's circuit breaker is open; only from accounts whose accounts file says `trading: enabled` (a
     read-only key keeps syncing, and a send refuses before anything reaches a venue);
  2. records 'sent' first (the intent: an order may be at the venue from here on), then, per order, asks the venue
     for the order by its client order id (domain.rebalancing.client_order_id, deterministic) and places it only
     when the venue does not know it — a retried send never places a second order. The placing call is not retried
     by the client (a retry after a timeout could place twice where the venue deduplicates only open orders, as
     Binance does): a timeout is followed by a look-up instead;
  3. follows each order (fetch_order) until it is final or the polls run out, and records every change of what the
     venue reports in ops.order_reports (V040);
  4. moves the proposal to what its orders' reports make of it (domain.execution.outcome). A venue's refusal
     (insufficient balance, a filter, a permission) is the order's reason, and a proposal with nothing filled fails
     with those reasons.
The fills are never booked from the reports: they come back as trades through the normal trade sync, which links
them to the order by the venue's order id (warehouse.execution.order_trades) — counted once.

Sending again (`coinbook trading send ID` on a sent or partially filled proposal) looks every order up again and
records what changed (a resting order that filled since); an order the venue refused is not placed again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt

from pipelines.domain.execution import (
    OrderReport,
    client_order_params,
    outcome,
    send_price,
    trading_refusals,
    venue_client_order_id,
)
from pipelines.services import trading
from pipelines.services.accounts import accounts
from pipelines.services.clients import ExchangeClients
from pipelines.services.trading import ProposalRow
from pipelines.sources.exchanges.client import ExchangeAccount
from warehouse import execution as store
from warehouse.connection import Warehouse

DEFAULT_SLIPPAGE_BPS = Decimal(50)
STATUSES = {"open": "open", "closed": "closed", "canceled": "canceled", "cancelled": "canceled", "expired": "expired",
            "rejected": "refused"}


# How each venue finds an order by the client's id (binance and htx: fetch_order by it — GET /api/v3/order
# origClientOrderId, GET /v1/order/orders/getClientOrder):
# - Kraken's QueryOrders takes order ids only (ccxt sends a client id there as `userref`, an integer); its OpenOrders
#   and ClosedOrders filter by `cl_ord_id` (docs.kraken.com/api-reference/trading);
# - Bitfinex's Retrieve Orders takes `cid` only with the day it was placed (`cid_date`) and lists active orders only,
#   its Orders History takes order ids: both lists are read and matched on the cid;
# - Coinbase's Get Order takes the venue's order id only: List Orders of the product, matched on client_order_id.
HISTORY_LIMIT = 2500  # Bitfinex's most orders a history call returns


class SendRefused(ValueError):
    """The proposal may not be sent now: nothing reached a venue."""


@dataclass(frozen=True)
class SendResult:
    proposal: ProposalRow
    placed: int  # orders placed by this call
    found: int  # orders the venue already knew (a retried send)
    reports: dict[int, dict[str, Any]]


def _decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _step(exchange: ccxt.Exchange, value: Any) -> Decimal:
    return trading._step(exchange, value)  # the one rule for ccxt's precision, shared


def _report(order_row: tuple[Any, ...], placed: dict[str, Any] | None, reason: str | None = None) -> dict[str, Any]:
    index, account_id, _venue, _symbol, _side, _amount, _limit, client_id = order_row
    if placed is None:
        return {"order_index": index, "account_id": account_id, "client_order_id": client_id, "venue_order_id": None,
                "status": "refused", "filled": Decimal(0), "average_price": None, "cost": None, "fee": None,
                "fee_asset": None, "reason": reason, "payload": None}
    fee = placed.get("fee") or {}
    return {"order_index": index, "account_id": account_id, "client_order_id": client_id,
            "venue_order_id": str(placed["id"]), "status": STATUSES.get(str(placed.get("status")), "open"),
            "filled": _decimal(placed.get("filled")) or Decimal(0), "average_price": _decimal(placed.get("average")),
            "cost": _decimal(placed.get("cost")), "fee": _decimal(fee.get("cost")), "fee_asset": fee.get("currency"),
            "reason": None, "payload": placed.get("info")}


def _changed(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    keys = ("venue_order_id", "status", "filled", "reason")
    return before is None or any(before[k] != after[k] for k in keys)


def _lookup(exchange: ccxt.Exchange, symbol: str, client_id: str) -> dict[str, Any] | None:
    """The venue's order with this client order id, or None when the venue has none."""
    venue_id = venue_client_order_id(exchange.id, client_id)
    if exchange.id == "kraken":
        for listing in (exchange.fetch_open_orders, exchange.fetch_closed_orders):
            found = [o for o in listing(symbol, params={"clientOrderId": client_id})
                     if o.get("clientOrderId") == client_id]
            if found:
                return found[0]
        return None
    if exchange.id == "bitfinex":
        listed = exchange.fetch_open_orders(symbol) + exchange.fetch_closed_orders(symbol, limit=HISTORY_LIMIT)
        return next((o for o in listed if str(o.get("clientOrderId")) == venue_id), None)
    if exchange.id == "coinbase":
        listed = exchange.fetch_orders(symbol, params={"paginate": True})
        return next((o for o in listed if o.get("clientOrderId") == venue_id), None)
    try:
        return exchange.fetch_order(None, symbol, {"clientOrderId": client_id})
    except ccxt.OrderNotFound:
        return None


def _place(placer: ccxt.Exchange, looker: ccxt.Exchange, order_row: tuple[Any, ...], slippage_bps: Decimal
           ) -> tuple[dict[str, Any] | None, str | None]:
    """(the venue's order, None) or (None, the venue's refusal)."""
    _index, _account, venue, symbol, side, amount, limit, client_id = order_row
    market = looker.market(symbol)
    tick = _step(looker, (market.get("precision") or {}).get("price"))
    price = send_price(Decimal(limit), side, slippage_bps, tick)
    try:
        return placer.create_order(symbol, "limit", side, str(Decimal(amount).normalize()),
                                   str(price.normalize()), client_order_params(venue, client_id)), None
    except ccxt.NetworkError as exc:
        found = _lookup(looker, symbol, client_id)  # did it reach the venue before the answer was lost?
        if found is not None:
            return found, None
        if _binance_permission(exc):
            return None, f"{venue} refused (PermissionDenied): {_message(exc)}"
        raise
    except ccxt.ExchangeError as exc:  # insufficient funds, a filter, permissions: the venue's own words
        if "uplicate" in str(exc):  # another send placed it meanwhile
            found = _lookup(looker, symbol, client_id)
            if found is not None:
                return found, None
        return None, f"{venue} refused ({type(exc).__name__}): {_message(exc)}"


def _binance_permission(exc: Exception) -> bool:
    """ccxt raises Binance's -2015 ("Invalid API-key, IP, or permissions for action.") as DDoSProtection once the key
    has authenticated before (Binance sends it spuriously under load): after a look-up found nothing, it is the key
    refused for trading, a refusal, not a lost answer."""
    return isinstance(exc, ccxt.DDoSProtection) and '"code":-2015' in str(exc)


def _message(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


def send(wh: Warehouse, clients: ExchangeClients, proposal_id: str, *,
         slippage_bps: Decimal = DEFAULT_SLIPPAGE_BPS, polls: int = 5, poll_interval_s: float = 0.5,
         sleep: Callable[[float], None] = time.sleep) -> SendResult:
    """Send (or follow up) an approved proposal's orders; see the module docstring. SendRefused when nothing may be
    sent (not approved, breaker open, an account without `trading: enabled`)."""
    found = trading.proposals(wh, ids=[proposal_id])
    if not found:
        raise SendRefused(f"no proposal {proposal_id}")
    p = found[0]
    first = p.state == "approved"
    if not first and p.state not in ("sent", "partially_filled"):
        hint = " it needs a manager's approval first (coinbook trading approve ID)" if p.state == "proposed" else ""
        raise SendRefused(f"a {p.state} proposal is not sent:{hint or ' its life is over'}")
    with wh.connect() as conn:
        breaker_open, breaker_reason = trading.breaker_state(conn, p.tenant_id, p.portfolio_id)
    if breaker_open and first:
        raise SendRefused(f"circuit breaker open for {p.tenant_id}/{p.portfolio_id} ({breaker_reason}): nothing sent")
    orders = store.proposal_orders(wh, p.tenant_id, proposal_id)
    registered = {a.account_id: a for a in accounts(wh, enabled_only=False) if a.tenant_id == p.tenant_id}
    used = {row[1] for row in orders}
    refused = trading_refusals({a: registered[a].settings if a in registered else {} for a in used})
    if refused:
        raise SendRefused(
            f"trading is not enabled on {', '.join(refused)}: orders are sent only from an account whose entry in "
            "the accounts file says `trading: enabled` (with a key allowed to trade), loaded with "
            "`coinbook accounts load --update FILE`; nothing sent")
    if first:
        store.record_step(wh, p.tenant_id, proposal_id, "sent",
                          f"{len(orders)} order(s), limit ± {slippage_bps} bps")
    before = store.latest_reports(wh, p.tenant_id, proposal_id)
    placed = looked_up = 0
    by_account: dict[str, tuple[ccxt.Exchange, ccxt.Exchange]] = {}
    for row in orders:
        index, account_id, _venue, symbol, *_rest, client_id = row
        latest = before.get(index)
        if latest is not None and latest["status"] in ("refused", "closed", "canceled", "expired"):
            continue  # final: a refused order is not placed again
        if account_id not in by_account:
            by_account[account_id] = _clients(clients, registered[account_id])
        looker, placer = by_account[account_id]
        venue_order = _lookup(looker, symbol, client_id)
        reason = None
        if venue_order is not None:
            looked_up += 1
        elif breaker_open:
            continue  # follow-ups look; they do not place while the breaker is open
        else:
            venue_order, reason = _place(placer, looker, row, slippage_bps)
            placed += venue_order is not None
            if venue_order is not None:  # an AddOrder-style answer says little: ask for the whole order
                venue_order = _lookup(looker, symbol, client_id) or venue_order
        for _ in range(polls):
            if venue_order is None or venue_order.get("status") != "open":
                break
            sleep(poll_interval_s)
            venue_order = _lookup(looker, symbol, client_id) or venue_order
        report = _report(row, venue_order, reason)
        if _changed(latest, report):
            store.record_report(wh, p.tenant_id, {**report, "proposal_id": proposal_id})
    reports = store.latest_reports(wh, p.tenant_id, proposal_id)
    _advance(wh, p, orders, reports)
    return SendResult(trading.proposals(wh, ids=[proposal_id])[0], placed, looked_up, reports)


def _clients(clients: ExchangeClients, account: ExchangeAccount) -> tuple[ccxt.Exchange, ccxt.Exchange]:
    """(a client for look-ups, with the usual retries; one for placing, without: see the module docstring)."""
    return clients.client(account), dataclasses.replace(clients, max_attempts=1).client(account)


def _advance(wh: Warehouse, p: ProposalRow, orders: list[tuple[Any, ...]], reports: dict[int, dict[str, Any]]) -> None:
    """The proposal's next step from its orders' reports, when there is one."""
    latest = [OrderReport(row[0], Decimal(row[5]), reports[row[0]]["status"], reports[row[0]]["filled"],
                          reports[row[0]]["reason"]) for row in orders if row[0] in reports]
    state, reason = outcome(latest) if len(latest) == len(orders) or any(r.filled for r in latest) else ("sent", None)
    current = trading.proposals(wh, ids=[p.proposal_id])[0]
    if state == "sent" or (state == current.state and state != "partially_filled"):
        return
    if state == "partially_filled" and current.state == "partially_filled" and _last_reason(wh, p) == reason:
        return  # nothing new filled
    store.record_step(wh, p.tenant_id, p.proposal_id, state, reason)


def _last_reason(wh: Warehouse, p: ProposalRow) -> str | None:
    with wh.connect() as conn:
        row = conn.execute("""select reason from ops.proposal_events where tenant_id = %s and proposal_id = %s
                              order by event_id desc limit 1""", (p.tenant_id, p.proposal_id)).fetchone()
    return None if row is None else row[0]
