-- V036: rebalancing targets and proposals (issue 18 §1). Every table is a record of what people decided or what
-- was proposed to them: append-only and in the tenant's audit chain (V018), as the KYC register is (V024). The
-- current state of anything is its latest row.
--
--   ops.rebalance_settings   per portfolio: the cash asset, the minimum trade, the venues orders may go to
--   ops.rebalance_targets    per portfolio and asset: target weight and band (a `set` writes the whole portfolio's
--                            bands with one set_at; the latest set_at is the targets in force)
--   ops.rebalance_proposals  what the proposals asset computed: drift, value, expected cost, VaR before/after,
--                            blocked by the circuit breaker or not
--   ops.rebalance_orders     the orders of a proposal, on the venue's steps, with the client order id that makes a
--                            retried send idempotent
--   ops.proposal_events      the life of a proposal: proposed → approved (who, when) → sent → filled / partially
--                            filled / failed, or rejected; the latest event is its state

-- The lists (V029): managers read their portfolios' targets and proposals (row-level security keeps them to their
-- tenants), accountants and auditors as well; every table is chained and append-only.
insert into ops.relation_readers (schema_name, relation_name, readers, writers, why) values
    ('ops', 'rebalance_settings', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read their portfolios'' targets (V036)'),
    ('ops', 'rebalance_targets', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read their portfolios'' targets (V036)'),
    ('ops', 'rebalance_proposals', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read the proposals they decide (V036)'),
    ('ops', 'rebalance_orders', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read the orders they approve (V036)'),
    ('ops', 'proposal_events', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'managers read the proposals'' life and write their decisions (insert only, granted below) (V036)')
on conflict do nothing;
insert into audit.chained_tables (schema_name, table_pattern, chained_by, append_only, why) values
    ('ops', 'rebalance\_settings', 'statement', true, 'targets are set by people (V036)'),
    ('ops', 'rebalance\_targets', 'statement', true, 'targets are set by people (V036)'),
    ('ops', 'rebalance\_proposals', 'statement', true, 'what was proposed to the managers (V036)'),
    ('ops', 'rebalance\_orders', 'statement', true, 'what was proposed to the managers (V036)'),
    ('ops', 'proposal\_events', 'statement', true, 'approvals, rejections, sends and fills (V036)')
on conflict do nothing;

create table if not exists ops.rebalance_settings (
    tenant_id      text not null,
    portfolio_id   text not null,
    set_at         timestamptz not null default clock_timestamp(),
    cash_asset     text not null check (cash_asset ~ '^[A-Z0-9]{1,20}$'),
    min_trade      numeric(38, 8) not null default 0 check (min_trade >= 0),
    venues         text[] not null default '{}',         -- empty: every venue the portfolio has accounts on
    recorded_by    text not null default session_user,
    primary key (tenant_id, portfolio_id, set_at),
    foreign key (tenant_id, portfolio_id) references ops.portfolios (tenant_id, portfolio_id)
);

create table if not exists ops.rebalance_targets (
    tenant_id      text not null,
    portfolio_id   text not null,
    set_at         timestamptz not null,
    asset          text not null check (asset ~ '^[A-Z0-9]{1,20}$'),
    target_weight  numeric(9, 6) not null,
    lower_weight   numeric(9, 6) not null,
    upper_weight   numeric(9, 6) not null,
    recorded_by    text not null default session_user,
    primary key (tenant_id, portfolio_id, set_at, asset),
    foreign key (tenant_id, portfolio_id) references ops.portfolios (tenant_id, portfolio_id),
    check (0 <= lower_weight and lower_weight <= target_weight and target_weight <= upper_weight
           and upper_weight <= 1)
);

create table if not exists ops.rebalance_proposals (
    tenant_id      text not null,
    proposal_id    text not null,                        -- a digest of the portfolio, the day and the orders
    portfolio_id   text not null,
    created_at     timestamptz not null default clock_timestamp(),
    cash_asset     text not null,
    value          numeric(38, 8) not null,              -- the portfolio's value in the cash asset
    expected_cost  numeric(38, 8) not null,              -- fees + half the spread crossed, in the cash asset
    var_before_usd numeric(38, 2),                       -- 1-day historical VaR 99 % of the holdings before …
    var_after_usd  numeric(38, 2),                       -- … and after every order filled at its limit
    blocked        boolean not null,
    block_reason   text,
    drifts         jsonb not null,                       -- per asset: weight, target, band, outside
    skipped        jsonb not null default '[]',          -- orders not placed, with the reason
    targets_set_at timestamptz not null,                 -- the targets it was computed against
    primary key (tenant_id, proposal_id),
    foreign key (tenant_id, portfolio_id) references ops.portfolios (tenant_id, portfolio_id),
    check (blocked = (block_reason is not null))
);

create table if not exists ops.rebalance_orders (
    tenant_id        text not null,
    proposal_id      text not null,
    order_index      integer not null check (order_index >= 0),
    account_id       text not null,
    venue            text not null,
    symbol           text not null,                      -- unified, e.g. BTC/USDT
    side             text not null check (side in ('buy', 'sell')),
    amount           numeric(38, 18) not null check (amount > 0),
    limit_price      numeric(38, 18) not null check (limit_price > 0),
    notional         numeric(38, 8) not null,
    fee              numeric(38, 8) not null,
    client_order_id  text not null,
    primary key (tenant_id, proposal_id, order_index),
    unique (tenant_id, client_order_id),
    foreign key (tenant_id, proposal_id) references ops.rebalance_proposals (tenant_id, proposal_id),
    foreign key (tenant_id, account_id) references ops.accounts (tenant_id, account_id)
);

create table if not exists ops.proposal_events (
    tenant_id      text not null,
    event_id       bigint generated always as identity,
    proposal_id    text not null,
    state          text not null check (state in ('proposed', 'approved', 'rejected', 'sent', 'filled',
                                                  'partially_filled', 'failed')),
    actor          text not null default session_user,   -- the login that approved or rejected; the pipeline else
    at             timestamptz not null default clock_timestamp(),
    reason         text,
    primary key (tenant_id, event_id),
    foreign key (tenant_id, proposal_id) references ops.rebalance_proposals (tenant_id, proposal_id)
);
create index if not exists proposal_events_by_proposal on ops.proposal_events (tenant_id, proposal_id, event_id);


-- The life of a proposal, enforced where it is written (the same rules as domain/rebalancing.TRANSITIONS; a test
-- holds the two together): the first event is 'proposed', each next one a step the current state allows, a
-- blocked proposal is never approved, a decision (approved / rejected) is made by one of the tenant's managers on
-- their own login — its actor is that login, whatever the statement says — and every other step by the pipeline.
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
        when 'proposed' then array['approved', 'rejected']
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

drop trigger if exists proposal_event_rules on ops.proposal_events;
create trigger proposal_event_rules before insert on ops.proposal_events
    for each row execute function ops.check_proposal_event();

-- Secured and chained from the lists above, explicitly: a migration may run where the event trigger does not fire
-- (idempotent when it did).
select ops.secure_relation(rel), audit.protect(rel)
from unnest(array['ops.rebalance_settings', 'ops.rebalance_targets', 'ops.rebalance_proposals',
                  'ops.rebalance_orders', 'ops.proposal_events']::regclass[]) as rel;

-- Managers write their decisions (the trigger above keeps them to approved / rejected, on their own login).
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'coinbook_manager') then
        grant insert on ops.proposal_events to coinbook_manager;
    end if;
end $$;
