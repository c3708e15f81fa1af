{{ config(materialized="view") }}
-- Rolling realised volatility per asset, annualised (√365 days, √8760 hours: crypto trades every hour of the
-- year): the sample standard deviation of the simple returns of asset_returns (the returns every risk figure
-- uses) over the last 30 and 90 days, over the 90 days before the last 30 (what the volatility_spike alert
-- compares the last 30 days with), and over the last 24 hours. The portfolio_risk asset computes the same figures
-- with pipelines/domain/risk.py (annualised_volatility) for marts.concentration and the alerts: one definition,
-- checked equal by the tests. Null until the window is full (the hourly one: 20 of its 24 hours, since the 1m
-- sync keeps a day of minutes, which gives 23 hourly returns).
-- From running sums of r and r² differenced over the window: one pass, where a stddev_samp over a sliding frame
-- re-aggregates every window (float stddev has no inverse transition): 500 assets × 3 years took 13 s that
-- way. The sums of squares of returns are small (~1 over years), so the difference loses nothing that matters.
-- A view: a reader asks for an asset or a few, and the filter on asset reaches under the window functions
-- (they partition by it), so it costs that asset's rows, not a rebuild of every asset's history each run.
with running as (
    select
        tenant_id, frequency, asset, period_start,
        row_number() over w as n,
        sum(simple_return) over w as s1,
        sum(simple_return * simple_return) over w as s2
    from {{ ref('asset_returns') }}
    window w as (partition by frequency, asset order by period_start rows between unbounded preceding and current row)
),

lagged as (
    select
        running.*,
        lag(s1, 30, 0.0) over p as s1_30, lag(s2, 30, 0.0) over p as s2_30,
        lag(s1, 90, 0.0) over p as s1_90, lag(s2, 90, 0.0) over p as s2_90,
        lag(s1, 120, 0.0) over p as s1_120, lag(s2, 120, 0.0) over p as s2_120,
        lag(s1, 24, 0.0) over p as s1_24, lag(s2, 24, 0.0) over p as s2_24
    from running
    window p as (partition by frequency, asset order by period_start)
)

select
    tenant_id,
    frequency,
    asset,
    period_start,
    case when frequency = 'daily' and n >= 30
         then sqrt(greatest((s2 - s2_30 - (s1 - s1_30) ^ 2 / 30) / 29, 0) * 365) end as volatility_30d,
    case when frequency = 'daily' and n >= 90
         then sqrt(greatest((s2 - s2_90 - (s1 - s1_90) ^ 2 / 90) / 89, 0) * 365) end as volatility_90d,
    case when frequency = 'daily' and n >= 120
         then sqrt(greatest((s2_30 - s2_120 - (s1_30 - s1_120) ^ 2 / 90) / 89, 0) * 365) end as volatility_prior_90d,
    case when frequency = 'hourly' and n >= 20
         then sqrt(greatest((s2 - s2_24 - (s1 - s1_24) ^ 2 / least(n, 24)) / (least(n, 24) - 1), 0) * 8760)
    end as volatility_24h
from lagged
