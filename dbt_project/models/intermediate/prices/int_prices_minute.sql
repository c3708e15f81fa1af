{{ config(materialized="table", indexes=[{"columns": ["asset", "price_minute"], "unique": true}]) }}
-- The USD reference price per asset and minute (close of the 1m candles; the sync keeps about a day of them),
-- chosen like the daily close (macro reference_price): priority, fallback when missing or an outlier.
-- Hourly returns (marts/risk/asset_returns) and the freshest prices (int_prices_latest) read it.
with candidates as (
    {{ candle_candidates('1m', 'o.open_time', 'price_minute') }}
),

reference as (
    {{ reference_price('candidates', 'price_minute', var('price_outlier_threshold')) }}
)

select * from reference
