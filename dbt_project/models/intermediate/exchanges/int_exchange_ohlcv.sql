-- Closed candles of every venue (public market data).
{{ union_venues('ohlcv') }}
