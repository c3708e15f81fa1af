-- V014: the quality gate judges each tenant's account and source apart (expectations/gate.py).
-- One partition = the rows of one raw table for one (tenant, account, source). A partition whose share of
-- quarantined rows exceeds the limit is HELD: its account's rows ingested after `passed_through` (all of them,
-- when it never passed) are kept out of staging (macro `admitted`), in every raw table of that account, so the
-- account stays consistent as of its last good data while every other tenant's and account's marts build.
-- A held partition raises a `gate_hold` alert; it is released when the partition passes again.
create table if not exists ops.gate_partitions (
    tenant_id       text not null,
    raw_table       text not null,               -- e.g. 'raw.binance_trades'
    account_id      text not null,
    source          text not null,               -- the venue, chain or 'csv:<format>'
    rows_checked    bigint not null,
    quarantined     bigint not null,             -- distinct rows of this partition the gate quarantined
    held            boolean not null,
    reason          text,                        -- why it is held (null when it passed)
    passed_through  timestamptz,                 -- rows ingested up to here passed the gate
    held_since      timestamptz,                 -- when the current hold began (null when not held)
    run_id          text,
    checked_at      timestamptz not null default now(),
    primary key (tenant_id, raw_table, account_id, source)
);

-- staging anti-joins on the held partitions of an account: few rows, found by this index
create index if not exists gate_partitions_held on ops.gate_partitions (tenant_id, account_id) where held;
