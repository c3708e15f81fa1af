-- V001: the three landing schemas, the operational tables, and Binance's raw tables.
-- Conventions (../shared/DESIGN.md §2): tenant_id on every row; raw is append-only; every raw row keeps
-- source, source_record_id, the native payload, a sha256 record_hash, ingested_at and the Dagster run_id;
-- uniqueness on (tenant_id, account_id, source, source_record_id) makes every load idempotent.
-- Public market data (tickers, OHLCV) belongs to no client: it is stored under tenant_id = 'public'.

create schema if not exists raw;
create schema if not exists ops;
create schema if not exists audit;

-- ── ops: who the clients are and where their assets sit ─────────────────────────────────────────────
create table if not exists ops.tenants (
    tenant_id      text primary key check (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name           text not null,
    base_currency  text not null default 'USD',
    created_at     timestamptz not null default now()
);

create table if not exists ops.portfolios (
    tenant_id     text not null references ops.tenants (tenant_id),
    portfolio_id  text not null check (portfolio_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name          text not null,
    created_at    timestamptz not null default now(),
    primary key (tenant_id, portfolio_id)
);

create table if not exists ops.accounts (
    tenant_id       text not null,
    account_id      text not null check (account_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    portfolio_id    text not null,
    venue           text not null,                 -- ccxt exchange id, e.g. 'binance'
    kind            text not null default 'exchange' check (kind in ('exchange', 'wallet', 'defi')),
    display_name    text not null,
    mode            text not null default 'live' check (mode in ('sandbox', 'live')),
    credential_ref  text,                          -- a name, never the secret itself
    history_start   timestamptz,                   -- where first-sync back-fill begins
    settings        jsonb not null default '{}'::jsonb,
    enabled         boolean not null default true,
    created_at      timestamptz not null default now(),
    primary key (tenant_id, account_id),
    foreign key (tenant_id, portfolio_id) references ops.portfolios (tenant_id, portfolio_id)
);

-- Incremental sync state, one row per account and endpoint (e.g. 'trades:BTC/USDT', 'deposits').
create table if not exists ops.sync_cursors (
    tenant_id   text not null,
    account_id  text not null,
    endpoint    text not null,
    cursor      jsonb not null,
    run_id      text,
    updated_at  timestamptz not null default now(),
    primary key (tenant_id, account_id, endpoint)
);

-- One row per sync of an account endpoint: what was fetched, what was new, how it ended.
create table if not exists ops.sync_log (
    sync_id      bigint generated always as identity,
    tenant_id    text not null,
    account_id   text not null,
    source       text not null,
    endpoint     text not null,
    run_id       text,
    started_at   timestamptz not null,
    finished_at  timestamptz,
    fetched      integer not null default 0,
    inserted     integer not null default 0,
    api_calls    integer not null default 0,
    status       text not null check (status in ('running', 'ok', 'failed')),
    error        text,
    primary key (tenant_id, sync_id)
);

-- Rows that failed the quality gate, with the reason. The raw row stays in raw (append-only);
-- staging anti-joins on this table, so a quarantined row never reaches a model.
create table if not exists ops.quarantine (
    quarantine_id     bigint generated always as identity,
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,
    raw_table         text not null,               -- schema-qualified, e.g. 'raw.binance_trades'
    source_record_id  text not null,
    record_hash       text,
    payload           jsonb,
    check_name        text not null,               -- the expectation, e.g. 'expect_column_values_to_not_be_null(price)'
    reason            text not null,
    run_id            text,
    quarantined_at    timestamptz not null default now(),
    primary key (tenant_id, quarantine_id),
    unique (tenant_id, raw_table, account_id, source, source_record_id, check_name)
);

-- ── raw: Binance, as ccxt delivers it (typed canonical columns + the native payload) ───────────────
-- Typed columns are nullable on purpose: a value the normaliser cannot parse lands as NULL beside its
-- native payload, and the quality gate quarantines the row with the reason instead of the load failing.

create table if not exists raw.binance_balances (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,
    source_record_id  text not null,               -- '<asset>@<exchange updateTime ms>'
    asset             text,
    free              numeric(38, 18),
    used              numeric(38, 18),
    total             numeric(38, 18),
    observed_at       timestamptz,                 -- the venue's own time for this snapshot
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

create table if not exists raw.binance_trades (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,
    source_record_id  text not null,               -- '<symbol>:<trade id>' (Binance trade ids are per symbol)
    occurred_at       timestamptz,
    symbol            text,                        -- ccxt unified, e.g. 'BTC/USDT'
    base_asset        text,
    quote_asset       text,
    side              text,                        -- 'buy' | 'sell' (the gate enforces it)
    price             numeric(38, 18),
    quantity          numeric(38, 18),             -- in base asset
    cost              numeric(38, 18),             -- in quote asset
    fee_amount        numeric(38, 18),
    fee_asset         text,
    order_id          text,
    is_maker          boolean,
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

create table if not exists raw.binance_transfers (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,
    source_record_id  text not null,               -- '<deposit|withdrawal>:<venue id>:<status>'
    transfer_id       text,                        -- the venue's id; a status change is a new row (a correction)
    transfer_type     text,                        -- 'deposit' | 'withdrawal'
    occurred_at       timestamptz,
    asset             text,
    amount            numeric(38, 18),             -- credited (deposit) or sent (withdrawal), fee excluded
    fee_amount        numeric(38, 18),
    fee_asset         text,
    status            text,                        -- ccxt unified: 'ok' | 'pending' | 'failed' | 'canceled'
    network           text,
    address           text,
    txid              text,
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

create table if not exists raw.binance_tickers (
    tenant_id         text not null,               -- 'public'
    account_id        text not null,               -- 'public'
    source            text not null,
    source_record_id  text not null,               -- '<symbol>@<ticker time ms>'
    symbol            text,
    base_asset        text,
    quote_asset       text,
    observed_at       timestamptz,
    last_price        numeric(38, 18),
    bid               numeric(38, 18),
    ask               numeric(38, 18),
    quote_volume      numeric(38, 18),
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

create table if not exists raw.binance_ohlcv (
    tenant_id         text not null,               -- 'public'
    account_id        text not null,               -- 'public'
    source            text not null,
    source_record_id  text not null,               -- '<symbol>:<timeframe>:<open time ms>'
    symbol            text,
    base_asset        text,
    quote_asset       text,
    timeframe         text,                        -- '1d', '1m', ...
    open_time         timestamptz,
    open              numeric(38, 18),
    high              numeric(38, 18),
    low               numeric(38, 18),
    close             numeric(38, 18),
    volume            numeric(38, 18),
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);
