-- V004: raw tables for the other seed venues, shaped exactly like Binance's (ccxt's unified structures map
-- every venue onto the same canonical columns; the native payload keeps each venue's own fields).
-- One table per venue and entity keeps the Dagster asset names honest (raw_kraken_trades holds Kraken's
-- trades) and lets a venue's history be reloaded or dropped on its own.
do $$
declare
    venue text;
    entity text;
begin
    foreach venue in array array['coinbase', 'kraken', 'bitfinex', 'htx'] loop
        foreach entity in array array['balances', 'trades', 'transfers', 'tickers', 'ohlcv'] loop
            execute format('create table if not exists raw.%I (like raw.%I including all)',
                           venue || '_' || entity, 'binance_' || entity);
        end loop;
    end loop;
end
$$;
