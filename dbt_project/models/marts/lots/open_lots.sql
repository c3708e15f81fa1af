-- Lots still held: remaining quantity and cost, acquisition date, where they sit, and what they are worth now
-- (int_prices_latest; stETH-like assets priced as their underlying). cost and unrealized_gain are null for
-- a lot of unknown basis (a deposit from outside without ops.cost_basis).
-- Tagged daily: `term` reads today's date, so a transform keeps this table for the rest of the day at most.
{{ config(tags=['daily']) }}
with lots as (
    select * from {{ source('derived', 'lot_open') }}
),

events as (
    select * from {{ ref('int_lot_events') }}
),

aliases as (
    select asset, priced_as from {{ ref('int_price_aliases') }}
)

select
    l.tenant_id,
    coalesce(acc.portfolio_id, e.portfolio_id) as portfolio_id,
    case when l.book = '*' then e.account_id else l.book end as account_id,
    l.book,
    l.asset,
    l.lot_id,
    l.lot_event_id,
    e.source as lot_source,
    coalesce(e.basis_acquired_at, l.acquired_at) as acquired_at,
    l.quantity,
    case when e.basis_unknown then null else l.cost end as cost,
    l.cost as cost_booked,  -- what the engine holds (0 for unknown basis): for reconciling lots
    case when e.basis_unknown or l.quantity = 0 then null else l.cost / l.quantity end as unit_cost,
    not coalesce(e.basis_unknown, true) as basis_known,
    p.price_usd,
    p.price_source,
    round(l.quantity * p.price_usd, 2) as market_value,
    case when e.basis_unknown then null else round(l.quantity * p.price_usd, 2) - l.cost end as unrealized_gain,
    case when current_date > cast(cast(coalesce(e.basis_acquired_at, l.acquired_at) as date) + interval '1 year' as date)
         then 'long' else 'short' end as term_if_sold_today,
    l.method
from lots as l
left join events as e on e.tenant_id = l.tenant_id and e.event_id = l.lot_event_id
left join {{ ref('stg_ops__accounts') }} as acc on acc.tenant_id = l.tenant_id and acc.account_id = l.book
left join aliases as al on al.asset = l.asset
left join {{ ref('int_prices_latest') }} as p on p.asset = coalesce(al.priced_as, l.asset)
