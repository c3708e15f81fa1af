-- V021: derivatives (perpetual swaps, futures, options) are set aside before the quality gate, never quarantined
-- and never in a spot table: their fills are in contracts of a contract size, their fees may be rebates, and a
-- swap wallet holds margin, not coins. Kept whole here (nothing lost), one table for every venue, which no model
-- reads yet; each sync counts what it set aside in ops.sync_log.ignored ({"derivatives": n}).
create table if not exists raw.exchange_derivatives (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,                -- the venue (ccxt id)
    source_record_id  text not null,                -- '<symbol>:<trade id>' for a fill, '<type>:<asset>:<digest>' for a balance
    entity            text not null check (entity in ('trades', 'balances')),
    market_type       text not null,                -- swap | future | option | contract (ccxt's market type)
    symbol            text,                         -- ccxt's unified symbol, e.g. BTC/USDT:USDT (fills)
    asset             text,                         -- the wallet's asset (balances)
    occurred_at       timestamptz,                  -- the fill's time; a balance's fetch or venue time
    unified           jsonb not null,               -- ccxt's unified structure (amount in contracts, contractSize, fee)
    payload           jsonb not null,               -- the venue's own record
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

alter table ops.sync_log add column if not exists ignored jsonb not null default '{}'::jsonb;

select ops.secure_relation('raw.exchange_derivatives'::regclass);
