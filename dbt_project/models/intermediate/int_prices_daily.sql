{{ config(materialized="table", indexes=[{"columns": ["asset", "price_date"], "unique": true}]) }}
-- A USD close per asset and UTC day: the median over venues of the day's 1d candle against USD or a USD
-- stablecoin (percentile_disc keeps an exact numeric), with the venues that voted. Lots value income, fees
-- paid in other coins and crypto-to-crypto trades with it (marts/lots/lot_events). A table with an index: lot_events
-- looks a close up per event (as a view, every lookup re-read the venues' candles: 25 s instead of 0.14 s).
select
    o.base_asset as asset,
    cast(o.open_time as date) as price_date,
    cast(percentile_disc(0.5) within group (order by o.close) as numeric(38, 18)) as close_usd,
    string_agg(distinct o.source, ',' order by o.source) as venues
from {{ ref('int_exchange_ohlcv') }} as o
join {{ ref('usd_pegged_assets') }} as pegs on pegs.asset = o.quote_asset
where o.timeframe = '1d' and o.close > 0
group by o.base_asset, cast(o.open_time as date)
