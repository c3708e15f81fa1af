-- V005: operational alerts, per-source freshness limits, and the API request ledger behind the budgets.

-- An alert is raised once per (tenant, kind, subject) while it is open; re-raising refreshes it
-- (last_seen_at, details) instead of piling up duplicates. Resolving sets resolved_at.
create table if not exists ops.alerts (
    alert_id       bigint generated always as identity,
    tenant_id      text not null,                 -- the client concerned ('public' for market data)
    kind           text not null,                 -- e.g. 'stale_source', 'sync_failed'
    severity       text not null check (severity in ('info', 'warning', 'critical')),
    subject        text not null,                 -- what it is about, e.g. 'kraken:acme-kraken:trades'
    message        text not null,
    details        jsonb not null default '{}'::jsonb,
    raised_at      timestamptz not null default now(),
    last_seen_at   timestamptz not null default now(),
    resolved_at    timestamptz,
    primary key (tenant_id, alert_id)
);
create unique index if not exists alerts_one_open_per_subject
    on ops.alerts (tenant_id, kind, subject) where resolved_at is null;

-- How old a source may get before it is stale. A row with account_id '*' is the venue's default;
-- venues without a row use the built-in default in pipelines/freshness.py.
create table if not exists ops.freshness_limits (
    tenant_id      text not null,                 -- '*' for every tenant
    venue          text not null,
    account_id     text not null default '*',
    endpoint       text not null default '*',     -- 'balances', 'trades', ... or '*'
    max_age        interval not null,
    primary key (tenant_id, venue, account_id, endpoint)
);

-- Every HTTP call a venue client made, aggregated per venue and minute: the request budget reads it, and it
-- shows what a sync costs. tenant_id is 'public' (the budget is the operator's, per venue API key pool).
create table if not exists ops.api_usage (
    tenant_id      text not null default 'public',
    venue          text not null,
    minute         timestamptz not null,
    calls          integer not null default 0,
    retries        integer not null default 0,
    primary key (tenant_id, venue, minute)
);

-- History a venue could not serve (its API keeps only a window, e.g. HTX's 120 days of trades): recorded so
-- the gap is visible and can be back-filled from the venue's CSV export (issue 4).
create table if not exists ops.history_gaps (
    tenant_id      text not null,
    account_id     text not null,
    source         text not null,
    endpoint       text not null,
    gap_start      timestamptz not null,
    gap_end        timestamptz not null,
    reason         text not null,
    recorded_at    timestamptz not null default now(),
    primary key (tenant_id, account_id, source, endpoint, gap_start)
);
