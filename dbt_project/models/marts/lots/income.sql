-- Income (staking, rewards, airdrops, interest) at fair value on receipt — ordinary income, and the cost
-- basis of the lots it opens. value_usd is null when no price was found (listed in missing_cost_basis).
select
    tenant_id,
    portfolio_id,
    account_id,
    event_id,
    asset,
    occurred_at,
    cast(extract(year from occurred_at) as integer) as tax_year,
    quantity,
    value_usd,
    valuation
from {{ ref('int_lot_events') }}
where source = 'income'
