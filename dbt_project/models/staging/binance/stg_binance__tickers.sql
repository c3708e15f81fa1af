-- Ticker observations per market (public market data); quarantined rows excluded.
select
    r.source,
    r.source_record_id,
    r.record_hash,
    r.symbol,
    {{ unified_asset('r.base_asset', 'r.source') }} as base_asset,
    {{ unified_asset('r.quote_asset', 'r.source') }} as quote_asset,
    r.observed_at,
    r.last_price,
    r.bid,
    r.ask,
    r.quote_volume,
    r.ingested_at
from {{ source('binance', 'binance_tickers') }} as r
where {{ not_quarantined('r', 'raw.binance_tickers') }}
