"""What an alert is, and the freshness rules that raise one: a source that has not synced within its limit, a
held asset whose price lags the market. Pure: the services read the states and write ops.alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

SOURCE_ALERT_KIND = "stale_source"
PRICE_ALERT_KIND = "stale_price"
DEFAULT_STALE_PRICE = timedelta(minutes=60)


@dataclass(frozen=True)
class Alert:
    """One condition worth a person's attention; ops.alerts keeps one open alert per (tenant, kind, subject)."""

    tenant_id: str
    kind: str
    severity: str  # info | warning | critical
    subject: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds // 60} min"


# ── sources ─────────────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class SourceState:
    tenant_id: str
    account_id: str
    venue: str
    endpoint: str
    last_ok: datetime | None       # last successful sync
    last_error: str | None         # the latest failure's message, if the latest attempt failed


@dataclass(frozen=True)
class StaleSource:
    state: SourceState
    limit: timedelta
    age: timedelta | None          # None: never synced successfully

    @property
    def subject(self) -> str:
        return f"{self.state.venue}:{self.state.account_id}:{self.state.endpoint}"

    @property
    def message(self) -> str:
        s = self.state
        when = "never synced successfully" if self.age is None else f"last synced {human(self.age)} ago"
        cause = f"; latest error: {s.last_error}" if s.last_error else ""
        return f"{s.venue} {s.endpoint} of {s.account_id} is stale: {when} (limit {human(self.limit)}){cause}"

    def alert(self) -> Alert:
        s = self.state
        severity = "critical" if self.age is None or self.age > 4 * self.limit else "warning"
        return Alert(s.tenant_id, SOURCE_ALERT_KIND, severity, self.subject, self.message,
                     {"venue": s.venue, "account_id": s.account_id, "endpoint": s.endpoint,
                      "limit_s": int(self.limit.total_seconds()),
                      "age_s": None if self.age is None else int(self.age.total_seconds())})


Limits = dict[tuple[str, str, str, str], timedelta]  # (tenant, venue, account, endpoint), '*' = any


def freshness_limit(limits: Limits, venue_default: timedelta, tenant_id: str, venue: str, account_id: str,
                    endpoint: str) -> timedelta:
    """The most specific configured limit (tenant > '*', account > '*', endpoint > '*'), else the venue's."""
    for key in ((tenant_id, venue, account_id, endpoint), (tenant_id, venue, account_id, "*"),
                (tenant_id, venue, "*", endpoint), (tenant_id, venue, "*", "*"),
                ("*", venue, account_id, endpoint), ("*", venue, "*", endpoint), ("*", venue, "*", "*")):
        if key in limits:
            return limits[key]
    return venue_default


def stale_sources(states: list[SourceState], limits: Limits, venue_defaults: dict[str, timedelta],
                  now: datetime) -> list[StaleSource]:
    out = []
    for s in states:
        limit = freshness_limit(limits, venue_defaults[s.venue], s.tenant_id, s.venue, s.account_id, s.endpoint)
        age = None if s.last_ok is None else now - s.last_ok
        if age is None or age > limit:
            out.append(StaleSource(s, limit, age))
    return out


# ── prices ──────────────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class HeldPrice:
    """An asset a tenant holds (as priced: stETH → ETH) and its latest USD price's time and provenance."""
    tenant_id: str
    asset: str
    priced_at: datetime | None  # None: no time to age (a USD peg is 1 by definition)
    price_source: str | None  # ticker | ohlcv_1d | cross_btc | usd_peg
    venues: str | None
    value_usd: Decimal | None


def stale_prices(held: list[HeldPrice], limits: dict[str, timedelta], market_clock: datetime | None) -> list[Alert]:
    """An alert per held asset whose price is older than its tenant's limit at `market_clock`.

    The clock is the market's — the freshest price seen anywhere — not the wall clock: a price is stale when the
    market has moved on without it (one venue down, one asset's feed stuck). Against the wall clock every price
    would age between two syncs and, in the exchange sandbox, whose world ends on 2026-09-30, every asset would
    be stale forever. The other way round, if every feed stops, the market clock stops too and no price looks
    stale: that is the stale_source alerts' job (the syncs themselves fail or age).
    """
    if market_clock is None:
        return []
    alerts = []
    for h in held:
        if h.priced_at is None:
            continue
        limit = limits.get(h.tenant_id, DEFAULT_STALE_PRICE)
        age = market_clock - h.priced_at
        if age <= limit:
            continue
        venues = f" from {h.venues}" if h.venues else ""
        message = (f"{h.asset} price is {human(age)} behind the market (last {h.price_source} price{venues} at "
                   f"{h.priced_at:%Y-%m-%d %H:%M} UTC, freshest price anywhere at {market_clock:%Y-%m-%d %H:%M} UTC;"
                   f" limit {human(limit)})")
        alerts.append(Alert(h.tenant_id, PRICE_ALERT_KIND, "critical" if age > 4 * limit else "warning", h.asset,
                            message, {"asset": h.asset, "priced_at": h.priced_at.isoformat(),
                                      "market_clock": market_clock.isoformat(), "price_source": h.price_source,
                                      "venues": h.venues, "age_s": int(age.total_seconds()),
                                      "limit_s": int(limit.total_seconds()),
                                      "value_usd": None if h.value_usd is None else str(h.value_usd)}))
    return alerts


HOLD_ALERT_KIND = "gate_hold"


@dataclass(frozen=True)
class HeldPartition:
    """A (tenant, account, source) of a raw table the quality gate holds back (ops.gate_partitions)."""

    tenant_id: str
    account_id: str
    source: str
    raw_table: str
    reason: str
    held_since: datetime
    passed_through: datetime | None

    def alert(self) -> Alert:
        since = (f"its data up to {self.passed_through:%Y-%m-%d %H:%M} UTC is in the marts, newer rows wait"
                 if self.passed_through else "none of its data is in the marts")
        return Alert(self.tenant_id, HOLD_ALERT_KIND, "critical", f"{self.account_id}:{self.raw_table}",
                     f"{self.tenant_id}/{self.account_id}: held back by the quality gate ({self.raw_table}, "
                     f"{self.source}): {self.reason}; {since}. See ops.quarantine for the rows and reasons.",
                     {"raw_table": self.raw_table, "source": self.source, "reason": self.reason,
                      "held_since": self.held_since.isoformat(),
                      "passed_through": self.passed_through.isoformat() if self.passed_through else None})
