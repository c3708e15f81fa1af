-- Every disposal matched to the lot slices it consumed, with gain, holding period and term. The tax report
-- (coinbook report tax) reads it. treatment:
--   realized  a sale, a crypto-to-crypto trade, a fee paid in a coin, or the part of a transfer the network
--             kept from a lot of which nothing arrived (its cost leaves as a loss)
--   removed   an unexplained withdrawal: the lots leave at cost, nothing realised (see transfer_review)
-- cost is null when the lot's basis is unknown (a deposit from outside without ops.cost_basis), proceeds when
-- no price was found: such slices are also listed in missing_cost_basis, never counted at zero.
-- Long term: disposed of after the first anniversary of the acquisition date (UTC dates; the IRS rule).
with slices as (
    select * from {{ source('derived', 'lot_slices') }}
),

events as (
    select * from {{ ref('int_lot_events') }}
),

joined as (
    select
        s.tenant_id,
        d.portfolio_id,
        d.account_id,
        s.book,
        s.asset,
        s.disposal_event_id,
        s.slice_no,
        s.lot_id,
        s.lot_event_id,
        d.kind as disposal_kind,
        d.source as disposal_source,
        d.counter_asset,
        case when d.kind = 'withdraw' then 'removed' else 'realized' end as treatment,
        s.quantity,
        s.proceeds as engine_proceeds,
        s.cost as engine_cost,
        d.proceeds_unknown,
        coalesce(a.basis_unknown, true) as basis_unknown,
        -- an average-cost pool holds every lot of the book: one of unknown basis taints all it gives out
        s.method = 'average' and exists (
            select 1 from events as u
            where u.tenant_id = s.tenant_id and u.book = s.book and u.asset = s.asset and u.basis_unknown
              and u.occurred_at <= s.disposed_at
        ) as pool_basis_incomplete,
        coalesce(a.basis_acquired_at, s.acquired_at) as acquired_at,
        s.disposed_at,
        s.method,
        a.source as lot_source
    from slices as s
    join events as d on d.tenant_id = s.tenant_id and d.event_id = s.disposal_event_id
    left join events as a on a.tenant_id = s.tenant_id and a.event_id = s.lot_event_id
)

select
    tenant_id,
    portfolio_id,
    account_id,
    book,
    asset,
    disposal_event_id,
    slice_no,
    lot_id,
    lot_event_id,
    lot_source,
    disposal_kind,
    disposal_source,
    counter_asset,
    treatment,
    quantity,
    case when treatment = 'removed' or proceeds_unknown then null else engine_proceeds end as proceeds,
    case when basis_unknown or pool_basis_incomplete then null else engine_cost end as cost,
    case when treatment = 'removed' or proceeds_unknown or basis_unknown or pool_basis_incomplete then null
         else engine_proceeds - engine_cost end as gain,
    engine_cost as cost_booked,  -- what left the books (0 for a lot of unknown basis): for reconciling lots
    engine_proceeds as proceeds_booked,
    not (basis_unknown or pool_basis_incomplete) as basis_known,
    acquired_at,
    disposed_at,
    cast(disposed_at as date) - cast(acquired_at as date) as holding_days,
    case when acquired_at is null then null
         when cast(disposed_at as date) > cast(cast(acquired_at as date) + interval '1 year' as date) then 'long'
         else 'short' end as term,
    cast(extract(year from disposed_at) as integer) as tax_year,
    method
from joined
