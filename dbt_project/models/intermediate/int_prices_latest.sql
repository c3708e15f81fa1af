-- The latest USD price per asset, and where it came from. In order of preference:
--   usd_peg        the asset is a USD stablecoin (valued at 1)
--   ticker         median over venues of the latest ticker of <asset>/<USD or USD stablecoin>
--   ohlcv_1d       latest daily close of <asset>/<USD stablecoin>
--   cross_btc      latest ticker of <asset>/BTC × BTC's USD price
with pegs as (
    select asset from {{ ref('usd_pegged_assets') }}
),

latest_tickers as (
    select distinct on (source, symbol) source, symbol, base_asset, quote_asset, last_price, observed_at
    from {{ ref('int_exchange_tickers') }}
    where last_price > 0
    order by source, symbol, observed_at desc
),

usd_quotes as (
    select t.base_asset as asset, t.source, t.last_price, t.observed_at
    from latest_tickers as t
    join pegs on pegs.asset = t.quote_asset
),

-- Prices never depend on one venue: the median of every venue quoting the asset within a day of its
-- freshest quote (a stale or absent venue simply does not vote). percentile_disc keeps it an exact numeric.
ticker_consensus as (
    select
        q.asset,
        percentile_disc(0.5) within group (order by q.last_price) as price_usd,
        max(q.observed_at) as priced_at,
        string_agg(distinct q.source, ',' order by q.source) as venues
    from usd_quotes as q
    where q.observed_at >= (select max(f.observed_at) from usd_quotes as f where f.asset = q.asset) - interval '1 day'
    group by q.asset
),

latest_daily as (
    select distinct on (base_asset) base_asset, close, open_time + interval '1 day' as closed_at, source
    from {{ ref('int_exchange_ohlcv') }} as o
    where timeframe = '1d' and close > 0 and quote_asset in (select asset from pegs)
    order by base_asset, open_time desc, source
),

direct as (
    select asset, price_usd, 'ticker' as price_source, priced_at, venues, 2 as preference
    from ticker_consensus

    union all

    select base_asset, close, 'ohlcv_1d', closed_at, source, 3
    from latest_daily
),

btc_usd as (
    select price_usd, priced_at from direct where asset = 'BTC' order by preference, priced_at desc limit 1
),

candidates as (
    select asset, cast(1 as numeric) as price_usd, 'usd_peg' as price_source,
           cast(null as timestamptz) as priced_at, cast(null as text) as venues, 1 as preference
    from pegs

    union all

    select asset, price_usd, price_source, priced_at, venues, preference from direct

    union all

    select t.base_asset, t.last_price * b.price_usd, 'cross_btc', least(t.observed_at, b.priced_at), t.source, 4
    from latest_tickers as t
    cross join btc_usd as b
    where t.quote_asset = 'BTC'
)

select distinct on (asset)
    asset,
    cast(price_usd as numeric(38, 18)) as price_usd,
    price_source,
    priced_at,
    venues as price_venues
from candidates
order by asset, preference, priced_at desc nulls last
