"""What `coinbook run` and `coinbook summary` show: whether the figures are current (stale marts, accounts the
quality gate holds back), positions per tenant and asset with reconciliation status, where they sit, internal
transfers, PnL, risk, the breaks and what the quality gate quarantined — read from the marts, as
a user would in SQL. Only reads (pipelines/app/summary.py prints it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from warehouse.connection import Warehouse

POSITIONS_SQL = """
with pos as (
    select tenant_id, asset, sum(quantity) as quantity, max(price_usd) as price_usd,
           sum(value_usd) as value_usd, max(as_of) as as_of
    from marts.positions group by tenant_id, asset
), rec as (
    select tenant_id, asset, count(*) filter (where status = 'break') as breaks, count(*) as checked
    from marts.reconciliation group by tenant_id, asset
)
select coalesce(p.tenant_id, r.tenant_id), coalesce(p.asset, r.asset), p.quantity, p.price_usd, p.value_usd,
       case when r.breaks > 0 then 'break' when r.checked > 0 then 'ok' else 'n/a' end
from pos p full join rec r on r.tenant_id = p.tenant_id and r.asset = p.asset
order by 1, p.value_usd desc nulls last, 2
"""

BREAKS_SQL = """
select tenant_id, account_id, asset, reported_quantity, computed_quantity, difference
from marts.reconciliation where status = 'break' order by tenant_id, account_id, asset
"""

ACCOUNTS_SQL = """
select tenant_id, account_id, account_kind, venue, sum(value_usd), min(health_factor),
       string_agg(distinct protocol, ', ' order by protocol)
from marts.positions group by tenant_id, account_id, account_kind, venue
order by tenant_id, array_position(array['exchange', 'wallet', 'defi'], account_kind), sum(value_usd) desc nulls last
"""

TRANSFERS_SQL = """
select t.tenant_id, coalesce(m.matched, 0), coalesce(m.methods, ''), coalesce(r.open, 0)
from (select distinct tenant_id from marts.positions) t
left join (select tenant_id, count(*) as matched, string_agg(distinct method, ', ') as methods
           from marts.internal_transfers group by tenant_id) m on m.tenant_id = t.tenant_id
left join (select tenant_id, count(*) as open from marts.transfer_review group by tenant_id) r
       on r.tenant_id = t.tenant_id
order by 1
"""

# Realized PnL per tenant and tax year (short / long term), unrealized now, and what lacks a basis.
PNL_SQL = """
with realized as (
    select tenant_id, tax_year, sum(realized_gain) as gain, sum(short_term_gain) as short_term,
           sum(long_term_gain) as long_term, sum(disposals) as disposals
    from marts.realized_pnl group by tenant_id, tax_year
), unrealized as (
    select tenant_id, sum(unrealized_gain) as gain, sum(cost) as cost, sum(market_value) as value
    from marts.unrealized_pnl group by tenant_id
), missing as (
    select tenant_id, count(*) as rows from marts.missing_cost_basis group by tenant_id
), methods as (
    select tenant_id, string_agg(distinct methods, ', ') as methods from derived.lot_units group by tenant_id
)
select t.tenant_id, r.tax_year, r.disposals, r.gain, r.short_term, r.long_term, u.cost, u.value, u.gain,
       coalesce(m.rows, 0), coalesce(me.methods, '')
from (select tenant_id from unrealized union select tenant_id from realized) t
left join realized r on r.tenant_id = t.tenant_id
left join unrealized u on u.tenant_id = t.tenant_id
left join missing m on m.tenant_id = t.tenant_id
left join methods me on me.tenant_id = t.tenant_id
order by t.tenant_id, r.tax_year
"""

# Per portfolio: 1-day 99 % VaR by the three methods, the three strongest 30-day correlations, the breaker,
# and the tenant's open alerts (every kind: risk, freshness).
RISK_SQL = """
with var as (
    select tenant_id, portfolio_id,
           max(var_usd) filter (where method = 'historical') as historical,
           max(var_usd) filter (where method = 'parametric') as parametric,
           max(var_usd) filter (where method = 'ewma') as ewma, max(value_usd) as value_usd
    from marts.portfolio_var where confidence = 0.99 and horizon_days = 1
    group by tenant_id, portfolio_id
), ranked as (
    select tenant_id, portfolio_id, asset_a, asset_b, correlation_30d,
           row_number() over (partition by tenant_id, portfolio_id order by abs(correlation_30d) desc, asset_a,
                              asset_b) as n
    from marts.correlations
), top as (
    select tenant_id, portfolio_id,
           string_agg(asset_a || '/' || asset_b || ' ' || to_char(correlation_30d, 'FM0.00'), ', ' order by n) as pairs
    from ranked where n <= 3 group by tenant_id, portfolio_id
), alerts as (
    select tenant_id, count(*) as open, string_agg(distinct kind, ', ') as kinds
    from ops.alerts where resolved_at is null group by tenant_id
)
select v.tenant_id, v.portfolio_id, v.value_usd, v.historical, v.parametric, v.ewma, coalesce(t.pairs, ''),
       b.breaker_open, coalesce(a.open, 0), coalesce(a.kinds, '')
from var v
left join top t on t.tenant_id = v.tenant_id and t.portfolio_id = v.portfolio_id
left join marts.circuit_breaker b on b.tenant_id = v.tenant_id and b.portfolio_id = v.portfolio_id
left join alerts a on a.tenant_id = v.tenant_id
order by 1, 2
"""

# The accounts the quality gate holds back in the figures shown: marts.data_status, built with them (the rule of
# what an account's figures are as of lives there, once).
HOLDS_SQL = """
select tenant_id, account_id, held_since, data_through, held_reason
from marts.data_status where held_back order by 1, 2
"""

# Stale marts: new data synced after the marts were built (the transform since has not completed).
STALE_SQL = """
with built as (select max(built_at) as at from marts.data_status)
select b.at, max(l.finished_at), count(distinct (l.tenant_id, l.account_id, l.endpoint))
from built b join ops.sync_log l on l.status = 'ok' and l.inserted > 0 and l.finished_at > b.at
group by b.at
"""

# Records a sync set aside instead of storing them in a spot raw table (derivatives: raw.exchange_derivatives)
SET_ASIDE_SQL = """
select tenant_id, account_id, entity, market_type, count(*)
from raw.exchange_derivatives group by tenant_id, account_id, entity, market_type order by 1, 2, 3, 4
"""

QUARANTINE_SQL = """
select raw_table, check_name, count(*), min(reason)
from ops.quarantine group by raw_table, check_name order by raw_table, check_name
"""


@dataclass(frozen=True)
class PositionLine:
    tenant_id: str
    asset: str
    quantity: Decimal | None
    price_usd: Decimal | None
    value_usd: Decimal | None
    reconciliation: str


@dataclass(frozen=True)
class Summary:
    positions: list[PositionLine]
    breaks: list[tuple[str, str, str, Decimal, Decimal, Decimal]]
    quarantine: list[tuple[str, str, int, str]]
    accounts: list[tuple[str, str, str, str, Decimal | None, Decimal | None, str | None]] = ()  # type: ignore[assignment]
    transfers: list[tuple[str, int, str, int]] = ()  # type: ignore[assignment]
    pnl: list[tuple[object, ...]] = ()  # type: ignore[assignment]
    risk: list[tuple[object, ...]] = ()  # type: ignore[assignment]
    built: bool = True  # False: the marts do not exist yet (no transform has completed)
    # (tenant, account, held since, data through, why): their figures are as of `data through`
    holds: list[tuple[str, str, datetime, datetime | None, str]] = ()  # type: ignore[assignment]
    # (marts built at, newest sync with new rows, sources synced since) when new data is not in the marts yet
    stale: tuple[datetime, datetime, int] | None = None
    # (tenant, account, entity, market type, records) ignored as derivatives, kept in raw.exchange_derivatives
    set_aside: list[tuple[str, str, str, str, int]] = ()  # type: ignore[assignment]


def read_summary(wh: Warehouse) -> Summary:
    with wh.connect() as conn:
        quarantine = [tuple(row) for row in conn.execute(QUARANTINE_SQL).fetchall()]
        has_set_aside = conn.execute("select to_regclass('raw.exchange_derivatives') is not null").fetchone()
        set_aside = [tuple(r) for r in conn.execute(SET_ASIDE_SQL).fetchall()] if has_set_aside[0] else []
        exists = conn.execute("select to_regclass('marts.positions') is not null "
                              "and to_regclass('marts.reconciliation') is not null").fetchone()
        if not (exists and exists[0]):
            return Summary([], [], quarantine, built=False, set_aside=set_aside)  # type: ignore[arg-type]
        positions = [PositionLine(*row) for row in conn.execute(POSITIONS_SQL).fetchall()]
        breaks = [tuple(row) for row in conn.execute(BREAKS_SQL).fetchall()]
        accounts = [tuple(row) for row in conn.execute(ACCOUNTS_SQL).fetchall()]
        has_transfers = conn.execute("select to_regclass('marts.internal_transfers') is not null "
                                     "and to_regclass('marts.transfer_review') is not null").fetchone()
        transfers = [tuple(r) for r in conn.execute(TRANSFERS_SQL).fetchall()] if has_transfers[0] else []
        has_pnl = conn.execute("select to_regclass('marts.realized_pnl') is not null and "
                               "to_regclass('marts.unrealized_pnl') is not null and "
                               "to_regclass('marts.missing_cost_basis') is not null").fetchone()
        pnl = [tuple(r) for r in conn.execute(PNL_SQL).fetchall()] if has_pnl[0] else []
        has_risk = conn.execute("select to_regclass('marts.portfolio_var') is not null and "
                                "to_regclass('marts.correlations') is not null and "
                                "to_regclass('marts.circuit_breaker') is not null").fetchone()
        risk = [tuple(r) for r in conn.execute(RISK_SQL).fetchall()] if has_risk[0] else []
        has_status = conn.execute("select to_regclass('marts.data_status') is not null").fetchone()
        stale = conn.execute(STALE_SQL).fetchone() if has_status[0] else None
        holds = [tuple(row) for row in conn.execute(HOLDS_SQL).fetchall()] if has_status[0] else []
    return Summary(positions, breaks, quarantine, accounts, transfers, pnl=pnl, risk=risk,  # type: ignore[arg-type]
                   holds=holds, stale=tuple(stale) if stale else None, set_aside=set_aside)  # type: ignore[arg-type]
