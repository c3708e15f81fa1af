-- V013: the quality gate remembers its last verdict per raw table (expectations/gate.py).
-- Raw tables are insert-only, so a table whose row count, newest ingested_at and columns are what they were
-- when it last passed, under the same suite, needs no new validation: the gate reuses the verdict instead of
-- running the whole suite again (about 0.5 s per table and growing with it; 31 tables per transform).
create table if not exists ops.gate_verdicts (
    tenant_id      text not null default 'public',  -- the gate judges a whole raw table, across tenants
    raw_table      text not null,                   -- e.g. 'raw.binance_trades'
    signature      text not null,                   -- sha256 of suite, limit, columns, row count, newest ingested_at
    passed         boolean not null,
    result         jsonb not null,                  -- the GateResult the verdict came with
    run_id         text,
    checked_at     timestamptz not null default now(),
    primary key (tenant_id, raw_table)
);
