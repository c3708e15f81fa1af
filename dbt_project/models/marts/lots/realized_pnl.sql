-- Realized gains per tenant, portfolio, asset and month (roll up to quarter and tax year with the columns).
-- Slices of unknown basis or proceeds are counted apart (…_without_basis), never as zero cost.
select
    tenant_id,
    portfolio_id,
    asset,
    cast(date_trunc('month', disposed_at) as date) as period_month,
    cast(extract(quarter from disposed_at) as integer) as quarter,
    tax_year,
    count(distinct disposal_event_id) as disposals,
    sum(quantity) as quantity,
    sum(proceeds) filter (where basis_known and proceeds is not null) as proceeds,
    sum(cost) filter (where basis_known and proceeds is not null) as cost,
    coalesce(sum(gain), 0) as realized_gain,
    coalesce(sum(gain) filter (where term = 'short'), 0) as short_term_gain,
    coalesce(sum(gain) filter (where term = 'long'), 0) as long_term_gain,
    coalesce(sum(quantity) filter (where gain is null), 0) as quantity_without_basis,
    coalesce(sum(proceeds) filter (where gain is null), 0) as proceeds_without_basis
from {{ ref('disposals') }}
where treatment = 'realized'
group by tenant_id, portfolio_id, asset, cast(date_trunc('month', disposed_at) as date),
         cast(extract(quarter from disposed_at) as integer), tax_year
