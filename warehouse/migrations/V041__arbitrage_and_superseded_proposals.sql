-- V041: cross-venue arbitrage detection (issue 18 §3), superseded proposals, targets set on a manager's own login.
--
--   ops.arbitrage_settings      per tenant: the edge (bps, net of every cost) above which an opportunity raises an
--                               alert; set by people, append-only and chained, the latest row in force (none: 50)
--   ops.arbitrage_scans         every scan of a tenant's venues: when, which venues, how many books were read, the
--                               problems met. What "consecutive observations" means: an opportunity seen at two
--                               scans in a row lasted from the first to the last
--   ops.arbitrage_observations  what a scan found: per symbol and ordered venue pair, the size, costs, profit and
--                               edge in bps (domain/arbitrage.py). marts.arbitrage_opportunities merges them
--
-- Detection only: nothing here trades.

insert into ops.relation_readers (schema_name, relation_name, readers, writers, why) values
    ('ops', 'arbitrage_settings', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read their alert threshold (V041)'),
    ('ops', 'arbitrage_scans', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts.arbitrage_opportunities is a view over it (V041)'),
    ('ops', 'arbitrage_observations', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts.arbitrage_opportunities is a view over it (V041)')
on conflict do nothing;
insert into audit.chained_tables (schema_name, table_pattern, chained_by, append_only, why) values
    ('ops', 'arbitrage\_settings', 'statement', true, 'the alert threshold is set by people (V041)')
on conflict do nothing;

create table if not exists ops.arbitrage_settings (
    tenant_id       text not null references ops.tenants (tenant_id),
    set_at          timestamptz not null default clock_timestamp(),
    alert_edge_bps  numeric(10, 2) not null check (alert_edge_bps >= 0),
    recorded_by     text not null default session_user,
    primary key (tenant_id, set_at)
);

create table if not exists ops.arbitrage_scans (
    tenant_id    text not null,
    scanned_at   timestamptz not null,
    venues       text[] not null,                 -- the venues the tenant has exchange accounts on
    books        integer not null,                -- order books read
    problems     jsonb not null default '[]',     -- a venue or book that could not be read
    primary key (tenant_id, scanned_at)
);

create table if not exists ops.arbitrage_observations (
    tenant_id      text not null,
    scanned_at     timestamptz not null,
    symbol         text not null,                 -- unified, e.g. SOL/USDT
    buy_venue      text not null,
    sell_venue     text not null,
    size           numeric(38, 18) not null check (size > 0),   -- base units through both books
    buy_cost       numeric(38, 8) not null,       -- Σ ask × size × (1 + taker fee), quote asset
    sell_proceeds  numeric(38, 8) not null,       -- Σ bid × size × (1 − taker fee)
    transfer_cost  numeric(38, 8) not null,       -- withdrawal fees: the coin to the sell venue, the quote back
    net_profit     numeric(38, 8) not null,
    edge_bps       numeric(12, 4) not null,       -- net profit / buy cost × 10,000
    best_ask       numeric(38, 18) not null,
    best_bid       numeric(38, 18) not null,
    primary key (tenant_id, scanned_at, symbol, buy_venue, sell_venue),
    foreign key (tenant_id, scanned_at) references ops.arbitrage_scans (tenant_id, scanned_at),
    check (buy_venue <> sell_venue)
);

select ops.secure_relation(rel)
from unnest(array['ops.arbitrage_settings', 'ops.arbitrage_scans', 'ops.arbitrage_observations']::regclass[]) as rel;
select audit.protect('ops.arbitrage_settings'::regclass);


-- Superseded: a newer proposal of the same portfolio replaces an older one still 'proposed' (the pipeline records
-- it when it records the newer one); a superseded proposal is final, so it can no longer be approved. The rest of
-- the function is V036's.
alter table ops.proposal_events drop constraint if exists proposal_events_state_check;
alter table ops.proposal_events add constraint proposal_events_state_check
    check (state in ('proposed', 'approved', 'rejected', 'sent', 'filled', 'partially_filled', 'failed',
                     'superseded'));

create or replace function ops.check_proposal_event() returns trigger
language plpgsql set search_path = pg_catalog as $fn$
declare
    current_state text;
    is_blocked boolean;
    is_manager boolean;
    allowed text[];
begin
    -- One writer per proposal at a time: two approvals racing must not both read 'proposed'.
    perform pg_advisory_xact_lock(hashtextextended(new.tenant_id || '/' || new.proposal_id, 36));
    select e.state into current_state from ops.proposal_events e
     where e.tenant_id = new.tenant_id and e.proposal_id = new.proposal_id order by e.event_id desc limit 1;
    allowed := case current_state
        when 'proposed' then array['approved', 'rejected', 'superseded']
        when 'approved' then array['sent', 'rejected']
        when 'sent' then array['filled', 'partially_filled', 'failed']
        when 'partially_filled' then array['filled', 'partially_filled', 'failed']
        else array[]::text[]
    end;
    if current_state is null then
        allowed := array['proposed'];
    end if;
    if not new.state = any (allowed) then
        raise exception '% % proposal cannot become %',
            case when coalesce(current_state, 'new') ~ '^[aeiou]' then 'an' else 'a' end,
            coalesce(current_state, 'new'), new.state using errcode = 'check_violation';
    end if;
    -- A superuser is a member of every role: it counts as the pipeline here, never as a manager.
    is_manager := pg_has_role(session_user, 'coinbook_manager', 'member')
                  and not (select r.rolsuper from pg_roles r where r.rolname = session_user);
    if new.state in ('approved', 'rejected') then
        if not is_manager then
            raise exception 'only a manager decides a proposal, on their own login (% is not a manager)',
                session_user using errcode = 'insufficient_privilege';
        end if;
        new.actor := session_user;
        new.at := clock_timestamp();
    elsif is_manager then
        raise exception 'a manager approves or rejects; % is the pipeline''s to record', new.state
            using errcode = 'insufficient_privilege';
    end if;
    if new.state = 'approved' then
        select p.blocked into is_blocked from ops.rebalance_proposals p
         where p.tenant_id = new.tenant_id and p.proposal_id = new.proposal_id;
        if is_blocked then
            raise exception 'proposal % is blocked (circuit breaker open): it cannot be approved', new.proposal_id
                using errcode = 'check_violation';
        end if;
    end if;
    return new;
end $fn$;


-- Targets are set by a manager on their own login (`coinbook trading targets set --as LOGIN`), as decisions are:
-- managers may insert them (row-level security keeps them to their tenants), and a manager's row names the manager
-- whatever the statement says.
create or replace function ops.stamp_manager_as_recorder() returns trigger
language plpgsql set search_path = pg_catalog as $fn$
begin
    if pg_has_role(session_user, 'coinbook_manager', 'member')
       and not (select r.rolsuper from pg_roles r where r.rolname = session_user) then
        new.recorded_by := session_user;
    end if;
    return new;
end $fn$;

drop trigger if exists recorded_by_manager on ops.rebalance_settings;
create trigger recorded_by_manager before insert on ops.rebalance_settings
    for each row execute function ops.stamp_manager_as_recorder();
drop trigger if exists recorded_by_manager on ops.rebalance_targets;
create trigger recorded_by_manager before insert on ops.rebalance_targets
    for each row execute function ops.stamp_manager_as_recorder();
drop trigger if exists recorded_by_manager on ops.arbitrage_settings;
create trigger recorded_by_manager before insert on ops.arbitrage_settings
    for each row execute function ops.stamp_manager_as_recorder();

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'coinbook_manager') then
        grant insert on ops.rebalance_settings, ops.rebalance_targets, ops.arbitrage_settings to coinbook_manager;
    end if;
end $$;
