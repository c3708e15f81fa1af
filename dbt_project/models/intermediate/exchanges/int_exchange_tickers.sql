-- Ticker observations of every venue (public market data).
{{ union_venues('tickers') }}
