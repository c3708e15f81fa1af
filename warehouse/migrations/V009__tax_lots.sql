-- V009: tax lots. The accountant's choices (ops.*) and the lot engine's results (derived.*), which the
-- marts in dbt_project/models/marts/lots/ read. Amounts are numeric; every table carries tenant_id.

-- ── Choices ───────────────────────────────────────────────────────────────────────────────────────────────
-- One row per tenant (absent = the defaults): books per account or one universal book, the method, what
-- specific identification falls back to, whether USD stablecoins are cash (no lots) or property with lots.
create table if not exists ops.lot_settings (
    tenant_id            text primary key,
    book_scope           text not null default 'account' check (book_scope in ('account', 'universal')),
    default_method       text not null default 'fifo'
                         check (default_method in ('fifo', 'lifo', 'hifo', 'specific', 'average')),
    specific_fallback    text not null default 'fifo' check (specific_fallback in ('fifo', 'lifo', 'hifo')),
    stablecoins_as_cash  boolean not null default true,
    updated_at           timestamptz not null default now()
);

-- The method elected from a tax year on (until the next row): the method may change per tax year.
create table if not exists ops.lot_methods (
    tenant_id  text not null,
    tax_year   integer not null check (tax_year between 2009 and 2200),
    method     text not null check (method in ('fifo', 'lifo', 'hifo', 'specific', 'average')),
    decided_by text,
    decided_at timestamptz not null default now(),
    primary key (tenant_id, tax_year)
);

-- Specific identification: the lots (marts.open_lots.lot_id) chosen for a disposal (marts.lot_events.event_id),
-- in order. What they do not cover falls back to ops.lot_settings.specific_fallback, with a warning.
create table if not exists ops.lot_selections (
    tenant_id          text not null,
    disposal_event_id  text not null,
    ordinal            integer not null default 1,
    lot_id             text not null,
    quantity           numeric(38, 18) not null check (quantity > 0),
    chosen_by          text,
    chosen_at          timestamptz not null default now(),
    note               text,
    primary key (tenant_id, disposal_event_id, ordinal)
);

-- Cost basis the ledger cannot know: coins deposited from outside (an external inflow) were bought elsewhere.
-- Without a row here such a deposit opens a lot of unknown basis, and what is sold from it is listed in
-- marts.missing_cost_basis — never priced at zero.
create table if not exists ops.cost_basis (
    tenant_id    text not null,
    entry_id     text not null,                    -- marts.ledger.ledger_entry_id of the deposit
    cost         numeric(38, 18) not null check (cost >= 0),
    acquired_at  timestamptz,                      -- when the coins were first acquired (default: the deposit)
    entered_by   text,
    entered_at   timestamptz not null default now(),
    note         text,
    primary key (tenant_id, entry_id)
);

-- ── Results (pipelines/assets/lots.py) ────────────────────────────────────────────────────────────────────
-- A unit is a tenant's asset across all its books (lots move between books with transfers); it is
-- recomputed only when the hash of its events and choices changes.
create unlogged table if not exists derived.lot_units (
    tenant_id    text not null,
    asset        text not null,
    inputs_hash  text not null,
    events       integer not null,
    methods      text not null,                    -- e.g. 'fifo' or '2024:fifo,2025:hifo'
    engine       text not null,                    -- fast | reference (what the fast engine does not cover)
    seconds      numeric(12, 4) not null,
    run_id       text,
    computed_at  timestamptz not null default now(),
    primary key (tenant_id, asset)
);

create unlogged table if not exists derived.lot_slices (
    tenant_id          text not null,
    asset              text not null,
    book               text not null,
    disposal_event_id  text not null,
    slice_no           integer not null,
    lot_id             text not null,              -- the acquiring event's id, '>' + transfer per move
    lot_event_id       text not null,              -- the acquiring event
    quantity           numeric(38, 18) not null,
    proceeds           numeric(38, 18) not null,
    cost               numeric(38, 18) not null,
    acquired_at        timestamptz,                -- null from an average-cost pool
    disposed_at        timestamptz not null,
    method             text not null,
    run_id             text,
    primary key (tenant_id, disposal_event_id, slice_no)
);

create unlogged table if not exists derived.lot_open (
    tenant_id     text not null,
    asset         text not null,
    book          text not null,
    lot_id        text not null,
    lot_event_id  text not null,
    acquired_at   timestamptz not null,
    quantity      numeric(38, 18) not null,
    cost          numeric(38, 18) not null,
    method        text not null,
    run_id        text,
    primary key (tenant_id, lot_id)
);

create unlogged table if not exists derived.lot_missing (
    tenant_id    text not null,
    asset        text not null,
    book         text not null,
    event_id     text not null,
    quantity     numeric(38, 18) not null,         -- not covered by any lot
    proceeds     numeric(38, 18) not null,         -- its share of the proceeds
    occurred_at  timestamptz not null,
    run_id       text,
    primary key (tenant_id, event_id)
);

create unlogged table if not exists derived.lot_transfers (
    tenant_id    text not null,
    asset        text not null,
    transfer_id  text not null,
    taken        numeric(38, 18) not null,         -- left the sending book
    arrived      numeric(38, 18) not null,         -- reached the receiving book (the rest the network kept)
    run_id       text,
    primary key (tenant_id, transfer_id)
);

create unlogged table if not exists derived.lot_warnings (
    tenant_id  text not null,
    asset      text not null,
    ordinal    integer not null,
    event_id   text,
    message    text not null,
    run_id     text,
    primary key (tenant_id, asset, ordinal)
);
