{{ config(materialized="table", indexes=[{"columns": ["asset", "price_date"], "unique": true}]) }}
-- The USD reference close per asset and UTC day, from the venues' 1d candles against USD or a USD stablecoin:
-- the highest-priority venue that has the day and is not an outlier against the other venues (macro
-- reference_price), with provenance. Lots value income, fees paid in other coins and crypto-to-crypto trades
-- with it (intermediate/ledger/int_lot_events); risk reads its history. A table with an index: int_lot_events looks a close up
-- per event (as a view, every lookup re-read the venues' candles: 25 s instead of 0.14 s).
with candidates as (
    {{ candle_candidates('1d', 'cast(o.open_time as date)', 'price_date') }}
),

reference as (
    {{ reference_price('candidates', 'price_date', var('price_outlier_threshold'), 'close_usd') }}
)

select * from reference
