"""Sending an approved proposal's orders (issue 18 §1): the price an order is sent at, and what the venues' reports
make of the proposal.

An order is sent as a *marketable limit*: the proposal's limit price moved by at most `slippage_bps` against us (a
sell may go that much lower, a buy that much higher), on the market's tick. It takes the book down to that price and
no further: a thin book leaves the rest resting, never a fill at any price.

A proposal's state follows its orders' latest reports: every order filled → 'filled'; something filled but not
everything (an order still open with part filled, or another refused) → 'partially_filled'; nothing filled and nothing
left open (every order refused, cancelled or expired) → 'failed' with the venues' reasons; else it stays 'sent'.

Pure: no I/O. Decimals throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pipelines.domain.rebalancing import step_down, step_up

ZERO = Decimal(0)
BPS = Decimal(10_000)
REPORT_STATUSES = ("open", "closed", "canceled", "expired", "refused")


@dataclass(frozen=True)
class OrderReport:
    """The latest the venue said of one order."""
    order_index: int
    amount: Decimal  # what the proposal ordered
    status: str  # one of REPORT_STATUSES
    filled: Decimal = ZERO
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in REPORT_STATUSES:
            raise ValueError(f"order {self.order_index}: unknown report status {self.status!r}")


def send_price(limit: Decimal, side: str, slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """The limit sent to the venue: `limit` moved by at most `slippage_bps` against the order, on the tick (rounded
    towards the proposal's price, so the slippage is never exceeded)."""
    if slippage_bps < 0:
        raise ValueError(f"slippage must be ≥ 0 bps, got {slippage_bps}")
    if side == "buy":
        return step_down(limit * (1 + slippage_bps / BPS), tick)
    if side == "sell":
        return step_up(limit * (1 - slippage_bps / BPS), tick)
    raise ValueError(f"side must be buy or sell, got {side!r}")


def outcome(reports: Sequence[OrderReport]) -> tuple[str, str | None]:
    """(the proposal's state, why) from its orders' latest reports: 'filled', 'partially_filled', 'failed' or
    'sent' (nothing final yet)."""
    if not reports:
        return "sent", None
    filled_any = any(r.filled > 0 for r in reports)
    if all(r.status == "closed" and r.filled >= r.amount for r in reports):
        return "filled", None
    refusals = [f"order {r.order_index}: {r.reason or r.status}" for r in reports
                if r.status in ("refused", "canceled", "expired") and r.filled == 0]
    if filled_any:
        done = sum((r.filled for r in reports), ZERO)
        wanted = sum((r.amount for r in reports), ZERO)
        parts = [f"{done} of {wanted} filled", *refusals]
        return "partially_filled", "; ".join(parts)
    if any(r.status == "open" for r in reports):
        return "sent", None
    return "failed", "; ".join(refusals)


def trading_refusals(accounts: Mapping[str, Mapping[str, object]]) -> list[str]:
    """The accounts (id → settings) an order may not be sent from: those without `trading: enabled`."""
    return sorted(a for a, settings in accounts.items() if settings.get("trading") != "enabled")


# Bitfinex's client id (`cid`) is an integer of at most 45 bits: the first 11 hex digits of ours (44 bits) after the
# 'cb' prefix; two orders of one account colliding there is a 1-in-17-trillion chance.
BITFINEX_CID_HEX = 11


def venue_client_order_id(venue: str, client_order_id: str) -> str:
    """The client order id as `venue` carries it (and as ccxt's order structure reports it back)."""
    if venue == "bitfinex":
        return str(int(client_order_id.removeprefix("cb")[:BITFINEX_CID_HEX], 16))
    return client_order_id


def client_order_params(venue: str, client_order_id: str) -> dict[str, object]:
    """What ccxt's create_order needs to send our client order id: its own `clientOrderId` where it maps it; Coinbase's
    raw `client_order_id` (ccxt's coinbase ignores `clientOrderId` and sends a fresh 'ccxt-<uuid>' instead);
    Bitfinex's integer `cid`."""
    if venue == "coinbase":
        return {"client_order_id": client_order_id}
    if venue == "bitfinex":
        return {"cid": int(venue_client_order_id(venue, client_order_id))}
    return {"clientOrderId": client_order_id}
