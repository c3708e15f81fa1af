-- V024: large and unhosted-wallet transfer thresholds per tenant, and the KYC register (issue 16 §2). All three
-- tables are changes people make: each statement enters the tenant's audit chain (V018), and they are append-only
-- (a new threshold or review supersedes the previous one; the history stays, as a register must keep it).
--
--   ops.compliance_thresholds  the tenant's thresholds from set_at on (the latest row applies; none: defaults,
--                              10,000 and 1,000 in the tenant's base currency when EUR or USD, else EUR)
--   ops.kyc_subjects           the client and its beneficial owners (a correction is a new row of the same subject:
--                              the latest row is the subject as it is now)
--   ops.kyc_reviews            each verification of a subject: status, when verified, risk, next review due, the
--                              references of the documents seen (the documents themselves are never stored here)

create table if not exists ops.compliance_thresholds (
    tenant_id        text not null references ops.tenants (tenant_id),
    set_at           timestamptz not null default clock_timestamp(),
    currency         text not null check (currency in ('EUR', 'USD')),
    large_amount     numeric(38, 2) not null check (large_amount > 0),
    unhosted_amount  numeric(38, 2) not null check (unhosted_amount > 0),
    recorded_by      text not null default session_user,
    primary key (tenant_id, set_at)
);

create table if not exists ops.kyc_subjects (
    tenant_id      text not null references ops.tenants (tenant_id),
    subject_id     text not null check (subject_id ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    recorded_at    timestamptz not null default clock_timestamp(),
    kind           text not null check (kind in ('client', 'beneficial_owner')),
    name           text not null check (name <> ''),
    ownership_pct  numeric(7, 4) check (ownership_pct is null or (ownership_pct > 0 and ownership_pct <= 100)),
    country        text check (country is null or country ~ '^[A-Z]{2}$'),      -- ISO 3166-1 alpha-2
    note           text,
    recorded_by    text not null default session_user,
    primary key (tenant_id, subject_id, recorded_at),
    check (kind = 'beneficial_owner' or ownership_pct is null)
);

create table if not exists ops.kyc_reviews (
    tenant_id        text not null references ops.tenants (tenant_id),
    review_id        bigint generated always as identity,
    subject_id       text not null,
    status           text not null check (status in ('verified', 'pending', 'rejected', 'expired')),
    verified_at      date,
    risk_rating      text check (risk_rating in ('low', 'medium', 'high')),
    next_review_due  date,
    documents        text[] not null default '{}',                           -- references only, e.g. 'DMS:4711'
    note             text,
    recorded_by      text not null default session_user,
    recorded_at      timestamptz not null default clock_timestamp(),
    primary key (tenant_id, review_id),
    -- a verification is only complete with its date, a risk rating and when it must be looked at again
    check (status <> 'verified' or (verified_at is not null and risk_rating is not null
                                    and next_review_due is not null and next_review_due > verified_at))
);
create index if not exists kyc_reviews_by_subject on ops.kyc_reviews (tenant_id, subject_id, recorded_at);

-- The chain: these three beside V018's hand-made tables (the event trigger reads this for tables created later).
create or replace function audit.is_chained(rel regclass) returns boolean
language sql stable set search_path = pg_catalog as $$
    select n.nspname = 'raw' and c.relkind = 'r' and not c.relispartition and c.relname not like 'price\_ticks%'
           or (n.nspname = 'ops' and c.relname in ('cost_basis', 'transfer_overrides', 'lot_selections', 'lot_methods',
                                                   'screening_decisions', 'compliance_thresholds', 'kyc_subjects',
                                                   'kyc_reviews'))
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = rel
$$;

do $$
begin
    perform audit.protect('ops.compliance_thresholds'::regclass, true);
    perform audit.protect('ops.kyc_subjects'::regclass, true);
    perform audit.protect('ops.kyc_reviews'::regclass, true);
end $$;

-- Grants: marts.kyc_status, marts.large_transfers and marts.unhosted_wallet_transfers are views that read these
-- with their reader's rights, so every reader of the marts reads them (its own tenants' rows). Writes: the
-- pipeline role (the `coinbook compliance` commands); no reader role writes the register. ops.secure_relation as
-- in V020, with the three tables beside 'tenants', 'cost_basis' and 'alerts'.
create or replace function ops.secure_relation(rel regclass) returns void
language plpgsql set search_path = pg_catalog as $fn$
declare
    nsp text;
    name text;
    kind "char";
    readers text[];
    reader text;
begin
    select n.nspname, c.relname, c.relkind into nsp, name, kind
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = rel;
    if nsp is null or nsp not in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts') then
        return;
    end if;
    if kind in ('r', 'p') and exists (select 1 from pg_attribute
                                       where attrelid = rel and attname = 'tenant_id' and not attisdropped) then
        execute format('alter table %s enable row level security', rel);
        execute format('alter table %s force row level security', rel);
        execute format('drop policy if exists tenant_isolation on %s', rel);
        if nsp = 'ops' and name = 'user_tenants' then
            -- A login sees its own memberships (the policy below reads them; it must not read itself).
            execute format('create policy tenant_isolation on %s using (login = current_user)', rel);
        else
            -- current_user, not session_user: SET ROLE to a login switches what is visible.
            execute format('create policy tenant_isolation on %s using (tenant_id = %L or tenant_id in '
                           '(select u.tenant_id from ops.user_tenants u where u.login = current_user))',
                           rel, 'public');
        end if;
    elsif kind = 'v' then
        -- A view reads its tables with its reader's rights (and their row-level security), not its owner's.
        execute format('alter view %s set (security_invoker = true)', rel);
    end if;

    if exists (select 1 from pg_roles where rolname = 'coinbook_pipeline') then
        execute format('grant all on %s to coinbook_pipeline', rel);
    end if;
    readers := case
        when nsp = 'marts' then array['coinbook_manager', 'coinbook_accountant', 'coinbook_auditor']
        when nsp = 'ops' and name = 'user_tenants' then array['coinbook_manager', 'coinbook_accountant', 'coinbook_auditor']
        when nsp = 'ops' and name = 'credentials' then array[]::text[]
        -- The marts' views read these (tax years in the tenant's zone, cost basis entered by hand, the open
        -- alerts, screening decisions (V023), the compliance thresholds and the KYC register), with their reader's
        -- rights: every reader of the marts reads them too (their own tenants' rows).
        when nsp = 'ops' and name in ('tenants', 'cost_basis', 'alerts', 'screening_decisions',
                                      'compliance_thresholds', 'kyc_subjects', 'kyc_reviews')
            then array['coinbook_manager', 'coinbook_accountant', 'coinbook_auditor']
        when nsp = 'ops' and name in ('portfolios', 'accounts')
            then array['coinbook_accountant', 'coinbook_auditor']
        when nsp in ('raw', 'ops', 'derived', 'audit') then array['coinbook_auditor']
        else array[]::text[]  -- staging, intermediate: the pipeline's working parts
    end;
    foreach reader in array readers loop
        if exists (select 1 from pg_roles where rolname = reader) then
            execute format('grant select on %s to %I', rel, reader);
        end if;
    end loop;
    if nsp = 'ops' and name in ('cost_basis', 'transfer_overrides', 'lot_selections', 'lot_methods')
       and exists (select 1 from pg_roles where rolname = 'coinbook_accountant') then
        execute format('grant select, insert, update, delete on %s to coinbook_accountant', rel);
    end if;
end $fn$;

select ops.secure_relation('ops.compliance_thresholds'::regclass);
select ops.secure_relation('ops.kyc_subjects'::regclass);
select ops.secure_relation('ops.kyc_reviews'::regclass);
