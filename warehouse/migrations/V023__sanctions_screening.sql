-- V023: sanctions screening (issue 16 §2). The sanctions lists as loaded (`coinbook compliance load-sanctions`: OFAC's
-- SDN list, a plain CSV of addresses), their addresses, and the reviewers' decisions on the hits (marts.screening_hits).
--
-- ops.sanctions_lists and ops.sanctioned_addresses carry no tenant_id, on purpose: a sanctions list is public reference
-- data, the same for every client (as the price ticks' market data is), and holds nothing of any tenant; a per-tenant
-- copy would multiply 10^4 addresses by the tenants and let them drift apart. (Under Citus they are reference
-- tables.) The pipeline writes them; the auditor reads them (ops.secure_relation: ops tables without a tenant).
-- Every version of a list is kept: screening uses each list's latest (staging stg_ops__sanctioned_addresses).
--
-- ops.screening_decisions is what people decide (true match / false positive, who, why): per tenant (row-level
-- security), append-only and in the audit chain (audit.protect, V018); a later decision on a hit supersedes the
-- earlier one, which stays. The marts' readers read it (marts.screening_hits is a view over it, so a decision
-- closes its hit at once): ops.secure_relation as in V020 with 'screening_decisions' beside 'alerts'.

create table if not exists ops.sanctions_lists (
    list_id       bigint generated always as identity primary key,
    list_name     text not null,                     -- e.g. 'OFAC SDN', or the name given to a plain CSV
    list_format   text not null check (list_format in ('sdn-xml', 'sdn-csv', 'csv')),
    version       text not null,                     -- SDN: its Publish_Date (ISO); a plain CSV: given, or its hash
    published_on  date,                              -- SDN's Publish_Date (none for a plain CSV)
    file_name     text not null,
    sha256        text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    entry_count   integer not null,                  -- the list's entries (SDN: records with an address)
    address_count integer not null,
    loaded_at     timestamptz not null default now(),
    loaded_by     text not null default session_user,
    unique (list_name, sha256)                       -- the same file twice is one version
);

create table if not exists ops.sanctioned_addresses (
    list_id      bigint not null references ops.sanctions_lists (list_id),
    entry_uid    text not null,                      -- SDN: the sdnEntry's uid (ent_num); plain CSV: line number
    entry_name   text not null,                      -- the listed person or entity as the list names it
    entry_type   text,                               -- SDN: Individual | Entity | Vessel | Aircraft
    programs     text[] not null default '{}',       -- SDN sanctions programmes, e.g. {CYBER2, DPRK3}
    ticker       text not null default '',           -- as listed: XBT, ETH, USDT, … ('' if a plain CSV gives none)
    address      text not null,                      -- as listed
    address_key  text not null,                      -- normalised (pipelines/domain/screening.address_key)
    note         text,
    primary key (list_id, entry_uid, ticker, address)  -- one address is often listed as ETH and USDT
);
create index if not exists sanctioned_addresses_by_key on ops.sanctioned_addresses (address_key);

create table if not exists ops.screening_decisions (
    tenant_id    text not null,
    decision_id  bigint generated always as identity,
    hit_id       text not null,                      -- marts.screening_hits.hit_id
    decision     text not null check (decision in ('true_match', 'false_positive')),
    reason       text not null check (length(btrim(reason)) > 0),
    decided_by   text not null default session_user,
    decided_at   timestamptz not null default clock_timestamp(),
    primary key (tenant_id, decision_id)
);
create index if not exists screening_decisions_by_hit on ops.screening_decisions (tenant_id, hit_id, decision_id);

-- The choices people make by hand, now with the screening decisions.
create or replace function audit.is_chained(rel regclass) returns boolean
language sql stable set search_path = pg_catalog as $$
    select n.nspname = 'raw' and c.relkind = 'r' and not c.relispartition and c.relname not like 'price\_ticks%'
           or (n.nspname = 'ops' and c.relname in ('cost_basis', 'transfer_overrides', 'lot_selections', 'lot_methods',
                                                  'screening_decisions'))
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = rel
$$;

-- Decisions are append-only: a new decision supersedes, nothing is changed or removed.
select audit.protect('ops.screening_decisions'::regclass, true);

-- Grants and row-level security of one table or view of Coinbook's schemas; idempotent, run by its owner.
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
        -- alerts, screening decisions), with their reader's rights: every reader of the marts reads them too
        -- (their own tenants' rows).
        when nsp = 'ops' and name in ('tenants', 'cost_basis', 'alerts', 'screening_decisions')
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


select ops.secure_relation('ops.sanctions_lists'::regclass);
select ops.secure_relation('ops.sanctioned_addresses'::regclass);
select ops.secure_relation('ops.screening_decisions'::regclass);
