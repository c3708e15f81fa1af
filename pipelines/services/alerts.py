"""Freshness and gate holds → ops.alerts: which sources have not synced within their limits, which held assets'
prices lag the market, which accounts the quality gate holds back. The rules are pipelines/domain/alerts.py; this
reads the states, raises or refreshes an alert per stale source, price or held account and resolves the rest
(warehouse/alerts.py). Sending is services/notify.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipelines.domain.alerts import (
    HOLD_ALERT_KIND,
    PRICE_ALERT_KIND,
    SOURCE_ALERT_KIND,
    HeldPartition,
    HeldPrice,
    Limits,
    SourceState,
    stale_prices,
    stale_sources,
)
from pipelines.sources.exchanges.venues import profile
from warehouse.alerts import sync_alerts
from warehouse.connection import Warehouse

ENDPOINTS = ("balances", "transfers", "trades")

SOURCE_STATES_SQL = """
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
"""

HELD_PRICES_SQL = """
select p.tenant_id, coalesce(p.priced_as, p.asset) as asset, l.priced_at, l.price_source, l.price_venues,
       sum(p.value_usd)
from marts.positions p
join intermediate.int_prices_latest l on l.asset = coalesce(p.priced_as, p.asset)
where p.quantity <> 0
group by p.tenant_id, coalesce(p.priced_as, p.asset), l.priced_at, l.price_source, l.price_venues
order by 1, 2
"""

# The market clock is the freshest time a venue itself put on a price. Kraken and Bitfinex tickers carry no
# time and are stamped when fetched: counting those would make the clock the wall clock, and every asset
# quoted only by a venue whose clock stopped (the sandbox's world ends 2026-09-30) "stale".
MARKET_CLOCK_SQL = """
select coalesce(max(priced_at) filter (where priced_at_stamped_by = 'venue'), max(priced_at))
from intermediate.int_prices_latest
"""


def source_states(wh: Warehouse) -> list[SourceState]:
    """Every enabled account × endpoint, with its last success and its latest failure (if it is the latest)."""
    with wh.connect() as conn:
        return [SourceState(*row) for row in conn.execute(SOURCE_STATES_SQL, (list(ENDPOINTS),)).fetchall()]


def freshness_limits(wh: Warehouse) -> Limits:
    with wh.connect() as conn:
        rows = conn.execute("select tenant_id, venue, account_id, endpoint, max_age from ops.freshness_limits")
        return {(t, v, a, e): age for t, v, a, e, age in rows.fetchall()}


def evaluate_source_freshness(wh: Warehouse, now: datetime) -> tuple[int, int]:
    """Raise or refresh an alert per stale source, resolve the rest; returns (open, resolved)."""
    states = source_states(wh)
    defaults = {s.venue: timedelta(seconds=profile(s.venue).freshness_limit_s) for s in states}
    stale = stale_sources(states, freshness_limits(wh), defaults, now)
    return sync_alerts(wh, [SOURCE_ALERT_KIND], [s.alert() for s in stale], now)


def evaluate_price_freshness(wh: Warehouse, now: datetime) -> tuple[int, int]:
    """Raise or refresh a stale_price alert per held asset with a stale price, resolve the rest; returns
    (open, resolved). Before the models exist there is nothing to judge (and nothing is resolved). An asset
    with no price at all is not 'stale' (missing_cost_basis and the positions' null values show it)."""
    with wh.connect() as conn:
        built = conn.execute("select to_regclass('marts.positions') is not null "
                             "and to_regclass('intermediate.int_prices_latest') is not null").fetchone()
        if not (built and built[0]):
            return 0, 0
        held = [HeldPrice(*row) for row in conn.execute(HELD_PRICES_SQL).fetchall()]
        (clock,) = conn.execute(MARKET_CLOCK_SQL).fetchone()  # type: ignore[misc]
        limits = {tenant: timedelta(minutes=minutes) for tenant, minutes in conn.execute(
            "select tenant_id, stale_price_minutes from ops.risk_limits where stale_price_minutes is not null")}
    return sync_alerts(wh, [PRICE_ALERT_KIND], stale_prices(held, limits, clock), now)


def held_partitions(wh: Warehouse) -> list[HeldPartition]:
    """What the quality gate holds back now (ops.gate_partitions), by tenant and account."""
    with wh.connect() as conn:
        return [HeldPartition(*row) for row in conn.execute(
            """select tenant_id, account_id, source, raw_table, reason, held_since, passed_through
               from ops.gate_partitions where held order by tenant_id, account_id, raw_table""").fetchall()]


def evaluate_gate_holds(wh: Warehouse, now: datetime) -> tuple[int, int]:
    """An alert per held partition, the others resolved (a hold lifted); returns (open, resolved)."""
    return sync_alerts(wh, [HOLD_ALERT_KIND], [h.alert() for h in held_partitions(wh)], now)


def open_alerts(wh: Warehouse) -> list[tuple[str, str, str, str]]:
    """(tenant, severity, kind, message) of every open alert, most severe first: what `coinbook` prints."""
    with wh.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "select tenant_id, severity, kind, message from ops.alerts where resolved_at is null "
            "order by array_position(array['critical', 'warning', 'info'], severity), tenant_id, subject")]
