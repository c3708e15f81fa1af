-- Positions as of any day: per tenant, account, asset and UTC day, the closing quantity from the ledger — so
-- `where day = '2025-12-31'` is the year-end inventory. A view over position_changes (one row per day with
-- movement): each change holds from its day until the next one, up to today (macro accounting_today). The days
-- are a series from the first movement on, joined by range: a filter on day leaves one date, so it costs one pass
-- over position_changes whatever the span (no grid of accounts × assets × days is ever stored). Only the days an
-- account held something are listed (a closing quantity of 0 is no position).
{{ config(materialized="view") }}
with days as (
    select cast(d as date) as day
    from generate_series(
        cast((select min(day) from {{ ref('position_changes') }}) as timestamp),
        cast({{ accounting_today() }} as timestamp), interval '1 day') as d
)

select
    c.tenant_id,
    c.portfolio_id,
    c.account_id,
    c.asset,
    d.day,
    c.quantity,
    c.day as last_movement_day
from days as d
join {{ ref('position_changes') }} as c
    on c.day <= d.day and (c.valid_until is null or d.day < c.valid_until)
where c.quantity <> 0
