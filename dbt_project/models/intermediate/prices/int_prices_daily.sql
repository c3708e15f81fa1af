-- The USD reference close per asset and UTC day, from the venues' 1d candles against USD or a USD stablecoin:
-- the highest-priority venue that has the day and is not an outlier against the other venues (macro
-- reference_price), with provenance. Lots value income, fees paid in other coins and crypto-to-crypto trades
-- with it (intermediate/ledger/int_lot_events); risk reads its history. A table with an index: int_lot_events looks a close up
-- per event (as a view, every lookup re-read the venues' candles: 25 s instead of 0.14 s).
--
-- Incremental (issue 17 §2): every close is computed again (a few thousand rows: ~0.2 s at 1M trades, and a new venue
-- quoting an asset can change any day's choice), but only the closes that changed are written, each with when
-- (changed_at): int_lot_events values again only the events a changed close can reach. A close that is no longer
-- there is deleted (a tombstone of strategy replace_keys, macros/incremental_ledger.sql).
{{ config(materialized="incremental", incremental_strategy="replace_keys", unique_key="price_key", row_key="asset",
          on_schema_change="fail",
          indexes=[{"columns": ["asset", "price_date"], "unique": true}, {"columns": ["price_key"]}]) }}
with candidates as (
    {{ candle_candidates('1d', 'cast(o.open_time as date)', 'price_date') }}
),

reference as (
    {{ reference_price('candidates', 'price_date', var('price_outlier_threshold'), 'close_usd') }}
),

computed as (
    select r.*, r.asset || '|' || r.price_date as price_key, md5(row(r.*)::text) as row_hash
    from reference as r
)

select c.*, now() as changed_at
from computed as c
{%- if is_incremental() %}
where not exists (select 1 from {{ this }} as t where t.price_key = c.price_key and t.row_hash = c.row_hash)

union all

-- tombstones: closes no longer there (the 13 columns of macro reference_price, then price_key, row_hash, changed_at)
-- (typed where a typmod must survive the union)
select null, null, null, cast(null as numeric(38, 18)), null, null, null, null, null, cast(null as numeric(38, 18)),
       cast(null as numeric(20, 10)), null, null, t.price_key, null, cast(null as timestamptz)
from {{ this }} as t
where not exists (select 1 from computed as c where c.price_key = t.price_key)
{%- endif %}
