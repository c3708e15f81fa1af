{{ config(materialized="table", post_hook="analyze {{ this }}") }}
-- Returns per asset: the one definition every risk figure uses (the portfolio_risk asset reads the daily ones for
-- VaR, correlations, volatilities, the breaker and the alerts; rolling_volatility, rolling_correlations and
-- portfolio_returns read them here). Daily from the reference closes (int_prices_daily), hourly from the last
-- reference minute of each hour.
-- Simple returns, r = close / previous close − 1: a portfolio's P&L over a period is its exposures · r, linear in
-- the holdings (log returns are not additive across assets), and the VaR is estimated on that P&L; volatility is
-- the annualised standard deviation of the same r.
-- A close missing for up to {{ var('max_carried_periods') }} periods (no venue priced the asset that day or hour)
-- is carried forward (`carried_forward`): those periods return 0 and the move lands on the period prices resume,
-- so one asset's short gap does not drop the day from every portfolio holding it. Across a longer gap there is no
-- return. Statistics, so double precision. Analysed after the build: portfolio_returns plans its join on it.
-- The hourly closes are found in the minutes' own index order (a minute whose successor is in another hour),
-- not by sorting on the hour: 500 assets × a day of minutes took 1.6 s that way, 0.6 s this way.
with minutes as (
    select asset, price_minute, price_usd,
           lead(price_minute) over (partition by asset order by price_minute) as next_minute
    from {{ ref('int_prices_minute') }}
),

closes as (
    select 'daily' as frequency, asset, cast(price_date as timestamp) at time zone 'UTC' as period_start,
           close_usd as close,
           interval '1 day' as step
    from {{ ref('int_prices_daily') }}

    union all

    select 'hourly', asset, date_trunc('hour', price_minute), price_usd, interval '1 hour'
    from minutes
    where next_minute is null or date_trunc('hour', next_minute) <> date_trunc('hour', price_minute)
),

observed as (
    select closes.*,
           lead(period_start) over (partition by frequency, asset order by period_start) as next_start,
           max(period_start) over (partition by frequency) as last_start
    from closes
),

calendar as (
    select o.frequency, o.asset, g.period_start, o.close, o.step, g.period_start > o.period_start as carried_forward
    from observed as o
    cross join lateral generate_series(
        o.period_start,
        least(coalesce(o.next_start - o.step, o.last_start), o.period_start + {{ var('max_carried_periods') }} * o.step),
        o.step) as g (period_start)
),

consecutive as (
    select calendar.*,
           lag(close) over w as previous_close,
           lag(period_start) over w as previous_start
    from calendar
    window w as (partition by frequency, asset order by period_start)
)

select
    cast({{ public_tenant() }} as text) as tenant_id,
    frequency,
    asset,
    period_start,
    close as close_usd,
    previous_close as previous_close_usd,
    carried_forward,
    cast(close as double precision) / cast(previous_close as double precision) - 1 as simple_return
from consecutive
where previous_start = period_start - step and previous_close > 0
