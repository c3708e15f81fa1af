-- Rolling correlation matrices over time: for every pair among each portfolio's largest risky holdings
-- (var rolling_correlation_assets, default 10, by USD exposure; stablecoins are cash), the correlation of daily
-- simple returns over the 30 and the 90 days ending each day. Where marts.correlations is the matrix today,
-- this is its history — the chart on which a correlation breakdown shows as both lines jumping together.
-- Limited to the largest holdings because pairs grow with the square of the assets (500 assets: 124,750
-- pairs a day).
-- Indexes lead with tenant_id: a reader's query (a dashboard, psql) reads its tenant's rows, not every tenant's
-- (issue 17 §3, bench/bench_reads.py).
{{ config(indexes=[{'columns': ['tenant_id', 'as_of']}, {'columns': ['as_of']}]) }}
with holdings as (
    select tenant_id, portfolio_id, coalesce(priced_as, asset) as asset, sum(value_usd) as value_usd
    from {{ ref('positions') }}
    where value_usd is not null
      and coalesce(priced_as, asset) not in (select asset from {{ ref('usd_pegged_assets') }})
    group by tenant_id, portfolio_id, coalesce(priced_as, asset)
),

largest as (
    select *, row_number() over (partition by tenant_id, portfolio_id order by abs(value_usd) desc, asset) as rank
    from holdings
),

pairs as (
    select a.tenant_id, a.portfolio_id, a.asset as asset_a, b.asset as asset_b
    from largest as a
    join largest as b on b.tenant_id = a.tenant_id and b.portfolio_id = a.portfolio_id and a.asset < b.asset
    where a.rank <= {{ var('rolling_correlation_assets') }} and b.rank <= {{ var('rolling_correlation_assets') }}
),

joined as (
    select p.*, ra.period_start, ra.simple_return as return_a, rb.simple_return as return_b
    from pairs as p
    join {{ ref('asset_returns') }} as ra on ra.asset = p.asset_a and ra.frequency = 'daily'
    join {{ ref('asset_returns') }} as rb
        on rb.asset = p.asset_b and rb.frequency = 'daily' and rb.period_start = ra.period_start
)

select
    tenant_id,
    portfolio_id,
    asset_a,
    asset_b,
    cast(period_start as date) as as_of,
    case when count(*) over w30 = 30 then corr(return_a, return_b) over w30 end as correlation_30d,
    case when count(*) over w90 = 90 then corr(return_a, return_b) over w90 end as correlation_90d
from joined
window
    w30 as (partition by tenant_id, portfolio_id, asset_a, asset_b order by period_start
            rows between 29 preceding and current row),
    w90 as (partition by tenant_id, portfolio_id, asset_a, asset_b order by period_start
            rows between 89 preceding and current row)
