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

hourly_closes as (
    select asset, date_trunc('hour', price_minute) as period_start, price_usd as close
    from minutes
    where next_minute is null or date_trunc('hour', next_minute) <> date_trunc('hour', price_minute)
),

-- each close with the asset's previous and next one, per frequency on its own: the daily closes are read in
-- their index order (asset, day), so the windows need no sort of half a million rows
daily as (
    select 'daily' as frequency, asset, cast(price_date as timestamp) at time zone 'UTC' as period_start,
           close_usd as close, interval '1 day' as step,
           lag(close_usd) over w as previous_close,
           cast(lag(price_date) over w as timestamp) at time zone 'UTC' as previous_start,
           cast(lead(price_date) over w as timestamp) at time zone 'UTC' as next_start,
           (select cast(max(price_date) as timestamp) at time zone 'UTC' from {{ ref('int_prices_daily') }})
               as last_start
    from {{ ref('int_prices_daily') }}
    window w as (partition by asset order by price_date)
),

hourly as (
    select 'hourly' as frequency, asset, period_start, close, interval '1 hour' as step,
           lag(close) over w as previous_close,
           lag(period_start) over w as previous_start,
           lead(period_start) over w as next_start,
           max(period_start) over () as last_start
    from hourly_closes
    window w as (partition by asset order by period_start)
),

observed as (
    select * from daily
    union all
    select * from hourly
),

-- a close's return spans the periods since the asset's previous close when the carry-forward covers the gap
-- (then the period before it holds that previous close, carried); across a longer gap there is none
observed_returns as (
    select frequency, asset, period_start, close, previous_close, false as carried_forward
    from observed
    where previous_start >= period_start - ({{ var('max_carried_periods') }} + 1) * step
),

-- the periods of a gap (and after an asset's last close, up to the series' end), at most max_carried_periods:
-- the close carried forward, a return of 0. Only the rare rows a gap follows are expanded.
gaps as materialized (
    select * from observed where coalesce(next_start, last_start + step) > period_start + step
),

carried as (
    select o.frequency, o.asset, o.period_start + k.n * o.step as period_start, o.close, o.close as previous_close,
           true as carried_forward
    from gaps as o
    cross join lateral generate_series(1, {{ var('max_carried_periods') }}) as k (n)
    where o.period_start + k.n * o.step < coalesce(o.next_start, o.last_start + o.step)
),

returns as (
    select * from observed_returns
    union all
    select * from carried
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
from returns
where previous_close > 0
