"""Freshness → ops.alerts, of sources and of prices.

Sources: which (account, endpoint) has not synced successfully within its limit. `stale_sources` is pure;
`evaluate_freshness` reads ops.sync_log and ops.freshness_limits, raises an alert per stale source (one open
alert per subject, refreshed while it lasts) and resolves the alerts of sources that are fresh again. The
`stale_sources` sensor and `coinbook run` call it.

Prices: which asset a tenant holds has a latest USD price older than the tenant's limit
(ops.risk_limits.stale_price_minutes, default 60), measured against the market clock. `stale_prices` is pure;
`evaluate_price_freshness` reads marts.positions and int_prices_latest; the portfolio_risk asset calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pipelines.alerts import Alert, sync_alerts
from pipelines.notify import notify_alerts
from pipelines.resources.warehouse import Warehouse
from pipelines.sources.exchanges.venues import profile

ENDPOINTS = ("balances", "transfers", "trades")
ALERT_KIND = "stale_source"
PRICE_ALERT_KIND = "stale_price"
DEFAULT_STALE_PRICE = timedelta(minutes=60)


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
        when = "never synced successfully" if self.age is None else f"last synced {_human(self.age)} ago"
        cause = f"; latest error: {s.last_error}" if s.last_error else ""
        return f"{s.venue} {s.endpoint} of {s.account_id} is stale: {when} (limit {_human(self.limit)}){cause}"


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds // 60} min"


def freshness_limit(limits: dict[tuple[str, str, str, str], timedelta], tenant_id: str, venue: str,
                    account_id: str, endpoint: str) -> timedelta:
    """The most specific configured limit (tenant > '*', account > '*', endpoint > '*'), else the venue's."""
    for key in ((tenant_id, venue, account_id, endpoint), (tenant_id, venue, account_id, "*"),
                (tenant_id, venue, "*", endpoint), (tenant_id, venue, "*", "*"),
                ("*", venue, account_id, endpoint), ("*", venue, "*", endpoint), ("*", venue, "*", "*")):
        if key in limits:
            return limits[key]
    return timedelta(seconds=profile(venue).freshness_limit_s)


def stale_sources(states: list[SourceState], limits: dict[tuple[str, str, str, str], timedelta],
                  now: datetime) -> list[StaleSource]:
    out = []
    for s in states:
        limit = freshness_limit(limits, s.tenant_id, s.venue, s.account_id, s.endpoint)
        age = None if s.last_ok is None else now - s.last_ok
        if age is None or age > limit:
            out.append(StaleSource(s, limit, age))
    return out


def source_states(wh: Warehouse) -> list[SourceState]:
    """Every enabled account × endpoint, with its last success and its latest failure (if it is the latest)."""
    with wh.connect() as conn:
        rows = conn.execute(
            """
            with endpoints(endpoint) as (select unnest(%s::text[]))
            select a.tenant_id, a.account_id, a.venue, e.endpoint,
                   (select max(l.finished_at) from ops.sync_log l
                     where l.tenant_id = a.tenant_id and l.account_id = a.account_id and l.endpoint = e.endpoint
                       and l.status = 'ok') as last_ok,
                   (select case when l.status = 'failed' then l.error end from ops.sync_log l
                     where l.tenant_id = a.tenant_id and l.account_id = a.account_id and l.endpoint = e.endpoint
                       and l.status <> 'running'
                     order by l.started_at desc limit 1) as last_error
            from ops.accounts a cross join endpoints e
            where a.enabled and a.kind = 'exchange'
            order by 1, 2, 4
            """,
            (list(ENDPOINTS),),
        ).fetchall()
    return [SourceState(*row) for row in rows]


def freshness_limits(wh: Warehouse) -> dict[tuple[str, str, str, str], timedelta]:
    with wh.connect() as conn:
        rows = conn.execute("select tenant_id, venue, account_id, endpoint, max_age from ops.freshness_limits")
        return {(t, v, a, e): age for t, v, a, e, age in rows.fetchall()}


def evaluate_freshness(wh: Warehouse, now: datetime) -> tuple[int, int]:
    """Raise or refresh an alert per stale source, resolve the rest; returns (open, resolved)."""
    stale = stale_sources(source_states(wh), freshness_limits(wh), now)
    alerts = [Alert(s.state.tenant_id, ALERT_KIND,
                    "critical" if s.age is None or s.age > 4 * s.limit else "warning", s.subject, s.message,
                    {"venue": s.state.venue, "account_id": s.state.account_id, "endpoint": s.state.endpoint,
                     "limit_s": int(s.limit.total_seconds()),
                     "age_s": None if s.age is None else int(s.age.total_seconds())}) for s in stale]
    with wh.connect() as conn, conn.transaction():
        counts = sync_alerts(conn, [ALERT_KIND], alerts, now)
    notify_alerts(wh, [ALERT_KIND])  # after the commit: what is sent is what ops.alerts holds
    return counts


# ── prices ─────────────────────────────────────────────────────────────────────────────────────────────────
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
        message = (f"{h.asset} price is {_human(age)} behind the market (last {h.price_source} price{venues} at "
                   f"{h.priced_at:%Y-%m-%d %H:%M} UTC, freshest price anywhere at {market_clock:%Y-%m-%d %H:%M} UTC;"
                   f" limit {_human(limit)})")
        alerts.append(Alert(h.tenant_id, PRICE_ALERT_KIND, "critical" if age > 4 * limit else "warning", h.asset,
                            message, {"asset": h.asset, "priced_at": h.priced_at.isoformat(),
                                      "market_clock": market_clock.isoformat(), "price_source": h.price_source,
                                      "venues": h.venues, "age_s": int(age.total_seconds()),
                                      "limit_s": int(limit.total_seconds()),
                                      "value_usd": None if h.value_usd is None else str(h.value_usd)}))
    return alerts


HELD_PRICES_SQL = """
select p.tenant_id, coalesce(p.priced_as, p.asset) as asset, l.priced_at, l.price_source, l.price_venues,
       sum(p.value_usd)
from marts.positions p
join intermediate.int_prices_latest l on l.asset = coalesce(p.priced_as, p.asset)
where p.quantity <> 0
group by p.tenant_id, coalesce(p.priced_as, p.asset), l.priced_at, l.price_source, l.price_venues
order by 1, 2
"""


def evaluate_price_freshness(conn: Any, now: datetime) -> tuple[int, int]:
    """Raise or refresh a stale_price alert per held asset with a stale price, resolve the rest; returns
    (open, resolved). Runs in the caller's transaction. Before the models exist there is nothing to judge
    (and nothing is resolved). An asset with no price at all is not 'stale' (missing_cost_basis and the
    positions' null values show it)."""
    built = conn.execute("select to_regclass('marts.positions') is not null "
                         "and to_regclass('intermediate.int_prices_latest') is not null").fetchone()
    if not (built and built[0]):
        return 0, 0
    held = [HeldPrice(*row) for row in conn.execute(HELD_PRICES_SQL).fetchall()]
    # The market clock is the freshest time a venue itself put on a price. Kraken and Bitfinex tickers carry no
    # time and are stamped when fetched: counting those would make the clock the wall clock, and every asset
    # quoted only by a venue whose clock stopped (the sandbox's world ends 2026-09-30) "stale".
    (clock,) = conn.execute(
        "select coalesce(max(priced_at) filter (where priced_at_stamped_by = 'venue'), max(priced_at)) "
        "from intermediate.int_prices_latest").fetchone()
    limits = {tenant: timedelta(minutes=minutes) for tenant, minutes in conn.execute(
        "select tenant_id, stale_price_minutes from ops.risk_limits where stale_price_minutes is not null")}
    return sync_alerts(conn, [PRICE_ALERT_KIND], stale_prices(held, limits, clock), now)
