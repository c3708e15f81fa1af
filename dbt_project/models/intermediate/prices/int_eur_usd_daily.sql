{{ config(materialized="table") }}
-- USD per EUR per UTC day, for the compliance thresholds in EUR (marts/compliance). No venue of the price
-- reference quotes EUR against USD, so the rate is read from the venues' own EUR markets, day by day: an EUR/USD
-- (or EUR/stablecoin) candle, a stablecoin/EUR candle inverted, or a coin's EUR close set against its USD
-- reference close that day (BTC/EUR 50,000 and BTC 54,000 USD → 1.08). The median of what the day offers;
-- a day without any EUR market has no rate (transfers needing it are listed as unvalued, never dropped). A table:
-- marts.transfers_valued looks a rate up per transfer.
with pegs as (
    select asset from {{ ref('usd_pegged_assets') }}
),

daily as (
    select o.source, o.base_asset, o.quote_asset, cast(o.open_time as date) as rate_date, o.close
    from {{ ref('int_exchange_ohlcv') }} as o
    where o.timeframe = '1d' and o.close > 0 and 'EUR' in (o.base_asset, o.quote_asset)
),

candidates as (
    select rate_date, close as usd_per_eur, source || ':' || base_asset || '/' || quote_asset as market
    from daily where base_asset = 'EUR' and quote_asset in (select asset from pegs)
    union all
    select rate_date, 1 / close, source || ':' || base_asset || '/' || quote_asset
    from daily where quote_asset = 'EUR' and base_asset in (select asset from pegs)
    union all
    select d.rate_date, p.close_usd / d.close, d.source || ':' || d.base_asset || '/EUR'
    from daily as d
    join {{ ref('int_prices_daily') }} as p on p.asset = d.base_asset and p.price_date = d.rate_date
    where d.quote_asset = 'EUR' and d.base_asset not in (select asset from pegs)
)

select
    rate_date,
    cast(percentile_disc(0.5) within group (order by usd_per_eur) as numeric(38, 18)) as usd_per_eur,
    cast(count(*) as integer) as n_markets,
    cast(string_agg(market, ', ' order by market) as text) as markets
from candidates
group by rate_date
