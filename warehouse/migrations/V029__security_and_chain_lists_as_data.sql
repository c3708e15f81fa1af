-- V029: the lists of who reads what and of what is chained become data (issue 16 §1), and the tick digest is
-- redefined so that the loader computes it while it copies.
--
-- 1. Lists as data. V016, V017, V020, V023 and V024 each replaced ops.secure_relation (V018, V023, V024
-- audit.is_chained; V018, V028 ops.secure_new_relations) to add one table name to a list inside the function: two
-- migrations written side by side then conflict (the later one drops the other's name). The lists are now tables,
-- the functions are replaced once more to read them, and a later migration adds a table with one insert:
--
--   ops.relation_readers   a relation whose readers are not its schema's (marts: manager, accountant, auditor;
--                          raw, ops, derived, audit: the auditor; staging, intermediate: nobody), and who may write it
--   audit.chained_tables   which tables are chained (a LIKE pattern per schema; the longest matching pattern
--                          decides), statement by statement or by day digests, and whether they are append-only
--
-- The rows are exactly the names the functions held; the functions are then run over the catalog again, which
-- changes no grant, policy or trigger (tests/integration/test_chain_lists.py compares the catalog before and after).
--
-- 2. The tick digest. audit.tick_digest (V028) printed observed_at and the decimals as PostgreSQL's text output,
-- which the loader cannot produce cheaply, so each load re-read its whole day to digest it (bench_ticks: a first
-- load 1.78x a bare COPY). The line of a tick now holds observed_at as integer microseconds since the epoch and
-- the decimals without trailing zeros (trim_scale): what the loader already holds for every tick
-- (warehouse/ticks.py TickDigest computes the same while the COPY runs; audit.tick_digest stays, for verify). The
-- hour digests behind each day's latest link are kept (audit.tick_hours): a merge of new ticks into a day digests
-- again only the hours it added to.
-- The days chained under the old definition are chained again under the new one, each only if its old digest
-- still matched its latest link (a day changed before this migration keeps failing verify).

-- ── 1. the lists ──────────────────────────────────────────────────────────────────────────────────────────
create table if not exists ops.relation_readers (
    schema_name    text not null check (schema_name in ('raw', 'ops', 'derived', 'audit', 'marts')),
    relation_name  text not null,
    readers        text[] not null,                  -- roles granted SELECT, instead of its schema's readers
    writers        text[] not null default '{}',     -- roles granted SELECT, INSERT, UPDATE, DELETE besides
    why            text not null,
    primary key (schema_name, relation_name)
);

insert into ops.relation_readers (schema_name, relation_name, readers, writers, why) values
    ('ops', 'user_tenants', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'every login reads its own memberships (its row-level security reads them)'),
    ('ops', 'credentials', '{}', '{}', 'sealed API keys: no reader, not even the auditor'),
    ('ops', 'tenants', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts views read the tax time zone (V017)'),
    ('ops', 'cost_basis', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{coinbook_accountant}',
     'marts.cost_basis_entered reads it (V017); accountants enter it (V016)'),
    ('ops', 'alerts', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts.open_alerts is a view over it (V020)'),
    ('ops', 'screening_decisions', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts.screening_hits is a view over it (V023)'),
    ('ops', 'compliance_thresholds', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'the compliance marts are views over it (V024)'),
    ('ops', 'kyc_subjects', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts.kyc_status is a view over it (V024)'),
    ('ops', 'kyc_reviews', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', '{}',
     'marts.kyc_status is a view over it (V024)'),
    ('ops', 'portfolios', '{coinbook_accountant,coinbook_auditor}', '{}', 'the books'' structure (V016)'),
    ('ops', 'accounts', '{coinbook_accountant,coinbook_auditor}', '{}', 'the books'' structure (V016)'),
    ('ops', 'transfer_overrides', '{coinbook_auditor}', '{coinbook_accountant}', 'accountants decide them (V016)'),
    ('ops', 'lot_selections', '{coinbook_auditor}', '{coinbook_accountant}', 'accountants choose them (V016)'),
    ('ops', 'lot_methods', '{coinbook_auditor}', '{coinbook_accountant}', 'accountants choose them (V016)')
on conflict do nothing;

create table if not exists audit.chained_tables (
    schema_name    text not null check (schema_name in ('raw', 'ops')),
    table_pattern  text not null,                    -- LIKE pattern of the table's name
    chained_by     text not null check (chained_by in ('statement', 'day digest')),
    append_only    boolean not null,
    why            text not null,
    primary key (schema_name, table_pattern),
    -- a day digest covers the day as loaded: it holds only while nothing changes it
    check (chained_by = 'statement' or append_only)
);

insert into audit.chained_tables (schema_name, table_pattern, chained_by, append_only, why) values
    ('raw', '%', 'statement', true, 'every ingested record (V018)'),
    ('raw', 'price\_ticks%', 'day digest', true,
     'a (venue, day) of ticks is loaded as a unit; its digest is the record (V028), partitions included'),
    ('ops', 'cost_basis', 'statement', false, 'entered by hand (V018)'),
    ('ops', 'transfer_overrides', 'statement', false, 'decided by hand (V018)'),
    ('ops', 'lot_selections', 'statement', false, 'chosen by hand (V018)'),
    ('ops', 'lot_methods', 'statement', false, 'chosen by hand (V018)'),
    ('ops', 'screening_decisions', 'statement', true, 'decided by hand, superseded not changed (V023)'),
    ('ops', 'compliance_thresholds', 'statement', true, 'the compliance register (V024)'),
    ('ops', 'kyc_subjects', 'statement', true, 'the compliance register (V024)'),
    ('ops', 'kyc_reviews', 'statement', true, 'the compliance register (V024)')
on conflict do nothing;

-- Grants and row-level security of one table or view of Coinbook's schemas; idempotent, run by its owner.
create or replace function ops.secure_relation(rel regclass) returns void
language plpgsql set search_path = pg_catalog as $fn$
declare
    nsp text;
    name text;
    kind "char";
    listed ops.relation_readers;
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
    select * into listed from ops.relation_readers r where r.schema_name = nsp and r.relation_name = name;
    readers := case
        when listed.schema_name is not null then listed.readers
        when nsp = 'marts' then array['coinbook_manager', 'coinbook_accountant', 'coinbook_auditor']
        when nsp in ('raw', 'ops', 'derived', 'audit') then array['coinbook_auditor']
        else array[]::text[]  -- staging, intermediate: the pipeline's working parts
    end;
    foreach reader in array readers loop
        if exists (select 1 from pg_roles where rolname = reader) then
            execute format('grant select on %s to %I', rel, reader);
        end if;
    end loop;
    foreach reader in array coalesce(listed.writers, array[]::text[]) loop
        if exists (select 1 from pg_roles where rolname = reader) then
            execute format('grant select, insert, update, delete on %s to %I', rel, reader);
        end if;
    end loop;
end $fn$;

-- How `rel` is chained: the row of audit.chained_tables with the longest pattern that matches it, or none. Row by
-- row ('statement') applies to plain tables that are not partitions; a day digest to a table and its partitions.
create or replace function audit.chaining_of(rel regclass) returns audit.chained_tables
language sql stable set search_path = pg_catalog as $$
    select t.*
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join audit.chained_tables t on t.schema_name = n.nspname and c.relname like t.table_pattern
     where c.oid = rel
       and (t.chained_by = 'statement' and c.relkind = 'r' and not c.relispartition
            or t.chained_by = 'day digest' and c.relkind in ('r', 'p'))
     order by length(t.table_pattern) desc, t.table_pattern
     limit 1
$$;

create or replace function audit.is_chained(rel regclass) returns boolean
language sql stable set search_path = pg_catalog as $$
    select coalesce((audit.chaining_of(rel)).chained_by = 'statement', false)
$$;

-- Put a table under the chain as audit.chained_tables says (idempotent); false when it is not chained.
create or replace function audit.protect(rel regclass) returns boolean
language plpgsql set search_path = pg_catalog as $fn$
declare
    how audit.chained_tables := audit.chaining_of(rel);
begin
    if how.chained_by = 'statement' then
        perform audit.protect(rel, how.append_only);
    elsif how.chained_by = 'day digest' then
        perform audit.protect_ticks(rel);
    else
        return false;
    end if;
    return true;
end $fn$;

create or replace function ops.secure_new_relations() returns event_trigger
language plpgsql set search_path = pg_catalog as $fn$
declare
    obj record;
begin
    for obj in select * from pg_event_trigger_ddl_commands()
                where object_type in ('table', 'view')
                  and schema_name in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts')
    loop
        perform ops.secure_relation(obj.objid::regclass);
        if obj.object_type = 'table' then
            perform audit.protect(obj.objid::regclass);
        end if;
    end loop;
end $fn$;

-- The catalog again: the same grants, policies and triggers as before (the lists hold the same names).
do $$
declare
    rel regclass;
begin
    for rel in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where c.relkind in ('r', 'p', 'v')
                  and n.nspname in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts')
                order by 1
    loop
        perform ops.secure_relation(rel);
    end loop;
    for rel in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where c.relkind in ('r', 'p') and n.nspname in ('raw', 'ops') order by 1
    loop
        perform audit.protect(rel);
    end loop;
end $$;

-- ── 2. the tick digest ────────────────────────────────────────────────────────────────────────────────────
-- The old digests of the days chained so far, while audit.tick_digest is still V028's.
create temporary table v029_tick_days on commit drop as
select d.tenant_id, d.source, d.day, audit.tick_digest(d.tenant_id, d.source, d.day) as old_digest,
       (select u.h from audit.chain c cross join lateral unnest(c.record_keys, c.record_hashes) as u (k, h)
         where c.tenant_id = d.tenant_id and c.table_name = 'raw.price_ticks' and u.k = d.source || '/' || d.day
         order by c.seq desc limit 1) as linked
  from (select distinct tenant_id, source, day from ops.tick_loads where inserted > 0) d;

-- The hour digests of one tenant's (venue, day) of ticks: the sha256 of each hour's lines, in (observed_at,
-- source_record_id) order, '\n'-separated; a line is the tick's columns but run_id and ingested_at, tab-separated,
-- NULLs left out (concat_ws): observed_at as integer microseconds since the epoch, price and size without trailing
-- zeros. `hours` (of the day, UTC): only those; NULL: every hour.
create or replace function audit.tick_hour_digests(tenant text, venue text, day date, hours int[])
returns table (hour int, digest bytea)
language sql stable parallel safe set search_path = pg_catalog set timezone = 'UTC' set datestyle = 'ISO, YMD'
as $$
    select extract(hour from t.observed_at)::int,
           sha256(string_agg(convert_to(concat_ws(E'\t', t.source_record_id,
                                                  (extract(epoch from t.observed_at) * 1000000)::bigint::text,
                                                  t.symbol, t.base_asset, t.quote_asset,
                                                  trim_scale(t.price)::text, trim_scale(t.size)::text,
                                                  t.payload, t.record_hash), 'UTF8'),
                             E'\n'::bytea order by t.observed_at, t.source_record_id))
      from raw.price_ticks t
     where t.tenant_id = tenant and t.source = venue
       -- one range over the hours asked for (an index range scan of the day's leaf), then the hours themselves
       and t.observed_at >= day::timestamptz + make_interval(hours => coalesce((select min(h) from unnest(hours) h), 0))
       and t.observed_at < day::timestamptz + make_interval(hours => coalesce((select max(h) + 1 from unnest(hours) h), 24))
       and (hours is null or extract(hour from t.observed_at)::int = any(hours))
     group by 1
$$;

-- The digest of one tenant's (venue, day) of ticks: its hour digests hashed in hour order. Hours, so that no
-- aggregate holds a whole day's text, and so that a merge digests again only the hours it added to; the typed
-- columns beside the payload and its hash, so that an UPDATE of a price is caught too.
create or replace function audit.tick_digest(tenant text, venue text, day date) returns bytea
language sql stable parallel safe set search_path = pg_catalog
as $$
    select sha256(coalesce(string_agg(h.digest, ''::bytea order by h.hour), ''::bytea))
      from audit.tick_hour_digests(tenant, venue, day, null) h
$$;

-- Chain a (venue, day) by the digest its loader computed while copying it (in the load's transaction). Verify
-- recomputes it with audit.tick_digest: a digest that does not describe the day shows there. SECURITY DEFINER
-- (owned by the superuser, like audit.append): the loader may add this link, not write the chain.
create or replace function audit.chain_tick_digest(tenant text, venue text, day date, digest bytea) returns void
language plpgsql security definer set search_path = pg_catalog as $fn$
begin
    if octet_length(digest) <> 32 then
        raise exception 'a tick digest is a sha256 (32 bytes), not % bytes', octet_length(digest);
    end if;
    perform audit.append(tenant, 'raw.price_ticks', 'insert', array[venue || '/' || day::text], array[digest],
                         nullif(current_setting('coinbook.maintenance', true), ''));
end $fn$;
revoke all on function audit.chain_tick_digest(text, text, date, bytea) from public;
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'coinbook_pipeline') then
        grant execute on function audit.chain_tick_digest(text, text, date, bytea) to coinbook_pipeline;
    end if;
end $$;

do $$
declare
    d record;
begin
    for d in select * from v029_tick_days where linked = old_digest order by tenant_id, source, day
    loop
        perform audit.append(d.tenant_id, 'raw.price_ticks', 'insert', array[d.source || '/' || d.day::text],
                             array[audit.tick_digest(d.tenant_id, d.source, d.day)],
                             'V029: the tick digest redefined (epoch microseconds, trimmed decimals)');
    end loop;
end $$;

-- The hour digests behind each (venue, day)'s latest link, kept by the loader (warehouse/ticks.py): a merge into a
-- day digests again only the hours it added ticks to and takes the others from here. Not evidence: verify
-- recomputes every day from its ticks (a wrong row here makes a link that verify reports).
create table if not exists audit.tick_hours (
    tenant_id  text not null,
    source     text not null,
    day        date not null,
    hour       int not null check (hour between 0 and 23),
    digest     bytea not null check (octet_length(digest) = 32),
    primary key (tenant_id, source, day, hour)
);
insert into audit.tick_hours (tenant_id, source, day, hour, digest)
select d.tenant_id, d.source, d.day, h.hour, h.digest
  from (select distinct tenant_id, source, day from ops.tick_loads where inserted > 0) d
 cross join lateral audit.tick_hour_digests(d.tenant_id, d.source, d.day, null) h
on conflict do nothing;
