-- V007: on-chain wallets (Bitcoin via Esplora, EVM via explorer + JSON-RPC), DeFi positions, CSV imports,
-- and internal transfer matching. Same conventions as every raw table: tenant_id, source, source_record_id,
-- payload, record_hash, run_id; the primary key makes every load idempotent.

-- ── Bitcoin ───────────────────────────────────────────────────────────────────────────────────────────────
-- One row per wallet and transaction: the wallet's view of it (own inputs = sent, own outputs = received;
-- change is netted out). direction 'in' | 'out' | 'self' (consolidation: only the fee leaves the wallet).
create table if not exists raw.btc_transactions (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,               -- 'esplora'
    source_record_id  text not null,               -- the txid
    txid              text,
    occurred_at       timestamptz,                 -- block time
    block_height      integer,
    direction         text,
    amount            numeric(38, 18),             -- BTC to or from others, fee excluded
    fee_amount        numeric(38, 18),             -- network fee paid by this wallet (0 when others funded it)
    received          numeric(38, 18),
    sent              numeric(38, 18),
    own_addresses     jsonb,                       -- the wallet's addresses the transaction touched
    counterparties    jsonb,                       -- the other side's addresses
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

create table if not exists raw.btc_balances (like raw.binance_balances including all);

-- The addresses a watch-only wallet owns (derived from its extended key, or given), for the UTXO view,
-- for transfer matching (an exchange withdrawal to one of these is the tenant's own) and for audits.
create table if not exists ops.wallet_addresses (
    tenant_id     text not null,
    account_id    text not null,
    chain         text not null,                   -- 'bitcoin' | an EVM chain
    address       text not null,
    branch        integer,                         -- 0 receive, 1 change (BIP44); null for a plain address
    address_index integer,
    path          text,
    script_type   text,
    discovered_at timestamptz not null default now(),
    primary key (tenant_id, account_id, chain, address)
);

-- ── EVM ───────────────────────────────────────────────────────────────────────────────────────────────────
-- One row per movement: native value, gas paid, or a token transfer (kind). direction relative to the account.
create table if not exists raw.evm_transfers (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,               -- 'etherscan'
    source_record_id  text not null,               -- '<hash>:native' | '<hash>:gas' | '<hash>:log:<index>'
    chain             text,
    txid              text,
    log_index         text,
    kind              text,                        -- native | gas | token
    occurred_at       timestamptz,
    block_number      bigint,
    direction         text,                        -- in | out | self
    asset             text,                        -- the token's symbol as the contract states it
    token_contract    text,                        -- EIP-55; null for the native coin
    token_name        text,
    amount            numeric(38, 18),
    from_address      text,
    to_address        text,
    method            text,
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

create table if not exists raw.evm_balances (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,               -- 'rpc'
    source_record_id  text not null,               -- '<contract | native>@<block>'
    asset             text,
    free              numeric(38, 18),
    used              numeric(38, 18),
    total             numeric(38, 18),
    observed_at       timestamptz,                 -- when the snapshot was read (one time per snapshot)
    chain             text,
    token_contract    text,                        -- EIP-55; null for the native coin
    block_number      bigint,
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

-- ── DeFi ──────────────────────────────────────────────────────────────────────────────────────────────────
-- Snapshots of positions read from the contracts: borrowed quantities are negative.
create table if not exists raw.defi_positions (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,               -- the protocol: 'aave-v3' | 'uniswap-v2' | 'lido'
    source_record_id  text not null,               -- '<protocol>:<position>:<pool>:<asset>@<block>'
    protocol          text,
    position_type     text,                        -- supplied | borrowed | liquidity | staked
    asset             text,                        -- the underlying, unified (ETH for WETH, STETH for stETH)
    quantity          numeric(38, 18),
    health_factor     numeric(38, 18),
    pool              text,
    chain             text,
    block_number      bigint,
    observed_at       timestamptz,
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

-- ── CSV imports ───────────────────────────────────────────────────────────────────────────────────────────
-- Rows of exchange/wallet export files, canonical. source_record_id is derived from the row's content (and its
-- ordinal among identical rows of the file), so the same row in another, overlapping file is the same record.
create table if not exists raw.file_records (
    tenant_id         text not null,
    account_id        text not null,
    source            text not null,               -- 'csv:<format>', e.g. 'csv:binance_trades'
    source_record_id  text not null,
    record_type       text,                        -- trade | deposit | withdrawal | income | fee
    occurred_at       timestamptz,
    base_asset        text,
    quote_asset       text,
    side              text,
    quantity          numeric(38, 18),
    price             numeric(38, 18),
    cost              numeric(38, 18),
    asset             text,
    amount            numeric(38, 18),
    fee_amount        numeric(38, 18),
    fee_asset         text,
    venue_record_id   text,                        -- the venue's own id, when the file has one
    txid              text,
    income_kind       text,
    file_name         text,
    file_sha256       text,
    line_numbers      jsonb,                       -- [12] or, for a Kraken trade's two ledger lines, [12, 13]
    payload           jsonb not null,
    record_hash       text not null,
    run_id            text,
    ingested_at       timestamptz not null default now(),
    primary key (tenant_id, account_id, source, source_record_id)
);

-- One row per import of a file: rows in = loaded (new + already present) + quarantined + ignored.
create table if not exists ops.imports (
    import_id     bigint generated always as identity,
    tenant_id     text not null,
    account_id    text not null,
    file_name     text not null,
    file_sha256   text not null,
    format        text not null,
    rows_in       integer not null,
    loaded_new    integer not null,
    duplicates    integer not null,
    quarantined   integer not null,
    ignored       integer not null default 0,
    run_id        text,
    imported_at   timestamptz not null default now(),
    primary key (tenant_id, import_id)
);

-- ── internal transfers ────────────────────────────────────────────────────────────────────────────────────
-- Manual decisions, by ledger entry id (int_ledger.ledger_entry_id): 'match' pairs an outflow with an
-- inflow; 'no_match' forbids a pair the matcher proposed; 'external' marks a movement as a real payment
-- to or from a third party (it leaves the review list).
create table if not exists ops.transfer_overrides (
    override_id   bigint generated always as identity,
    tenant_id     text not null,
    decision      text not null check (decision in ('match', 'no_match', 'external')),
    out_entry_id  text,
    in_entry_id   text,
    note          text,
    created_by    text not null default current_user,
    created_at    timestamptz not null default now(),
    primary key (tenant_id, override_id),
    check (out_entry_id is not null or in_entry_id is not null)
);

-- Outputs of Python assets that sit between dbt's intermediate models and the marts.
create schema if not exists derived;

create table if not exists derived.transfer_matches (
    tenant_id      text not null,
    match_id       text not null,
    out_entry_id   text not null,
    in_entry_id    text not null,
    out_account_id text not null,
    in_account_id  text not null,
    asset          text not null,
    sent           numeric(38, 18) not null,
    received       numeric(38, 18) not null,
    fee_gap        numeric(38, 18) not null,      -- sent − received: what the network/venue kept
    sent_at        timestamptz not null,
    received_at    timestamptz not null,
    method         text not null,                  -- txid | amount_time | override | protocol
    txid           text,
    run_id         text,
    computed_at    timestamptz not null default now(),
    primary key (tenant_id, match_id)
);
