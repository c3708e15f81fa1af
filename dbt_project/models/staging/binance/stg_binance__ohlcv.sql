-- Closed candles per market and timeframe (public market data); quarantined rows excluded.
select
    r.source,
    r.source_record_id,
    r.record_hash,
    r.symbol,
    {{ unified_asset('r.base_asset', 'r.source') }} as base_asset,
    {{ unified_asset('r.quote_asset', 'r.source') }} as quote_asset,
    r.timeframe,
    r.open_time,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    r.ingested_at
from {{ source('binance', 'binance_ohlcv') }} as r
where {{ not_quarantined('r', 'raw.binance_ohlcv') }}
