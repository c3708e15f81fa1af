-- The latest USD price per asset, and where it came from. In order of preference:
--   usd_peg        the asset is a USD stablecoin (valued at 1)
--   ticker         latest ticker of <asset>/<USD stablecoin>
--   ohlcv_1d       latest daily close of <asset>/<USD stablecoin>
--   cross_btc      latest ticker of <asset>/BTC × BTC's USD price
with pegs as (
    select asset from {{ ref('usd_pegged_assets') }}
),

latest_tickers as (
    select distinct on (symbol) symbol, base_asset, quote_asset, last_price, observed_at
    from {{ ref('stg_binance__tickers') }}
    where last_price > 0
    order by symbol, observed_at desc
),

latest_daily as (
    select distinct on (symbol) symbol, base_asset, quote_asset, close, open_time + interval '1 day' as closed_at
    from {{ ref('stg_binance__ohlcv') }}
    where timeframe = '1d' and close > 0
    order by symbol, open_time desc
),

direct as (
    select t.base_asset as asset, t.last_price as price_usd, 'ticker' as price_source, t.observed_at as priced_at,
           2 as preference
    from latest_tickers as t
    join pegs on pegs.asset = t.quote_asset

    union all

    select d.base_asset, d.close, 'ohlcv_1d', d.closed_at, 3
    from latest_daily as d
    join pegs on pegs.asset = d.quote_asset
),

btc_usd as (
    select price_usd, priced_at from direct where asset = 'BTC' order by preference, priced_at desc limit 1
),

candidates as (
    select asset, cast(1 as numeric) as price_usd, 'usd_peg' as price_source,
           cast(null as timestamptz) as priced_at, 1 as preference
    from pegs

    union all

    select asset, price_usd, price_source, priced_at, preference from direct

    union all

    select t.base_asset, t.last_price * b.price_usd, 'cross_btc', least(t.observed_at, b.priced_at), 4
    from latest_tickers as t
    cross join btc_usd as b
    where t.quote_asset = 'BTC'
)

select distinct on (asset)
    asset,
    cast(price_usd as numeric(38, 18)) as price_usd,
    price_source,
    priced_at
from candidates
order by asset, preference, priced_at desc nulls last
