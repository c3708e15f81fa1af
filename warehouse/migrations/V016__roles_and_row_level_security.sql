-- V016: who sees what. Four group roles (NOLOGIN; a person's LOGIN role is a member of one, see
-- warehouse/users.py), a membership table of logins and their tenants, and row-level security (ENABLE and
-- FORCE) on every table that carries tenant_id: a login sees the rows of its tenants, and the public market data.
--
--   coinbook_pipeline    BYPASSRLS, not a superuser: writes raw/ops/derived, builds the marts
--   coinbook_manager     reads marts
--   coinbook_accountant  reads marts; reads and writes the choices people make by hand (ops.cost_basis,
--                        ops.transfer_overrides, ops.lot_selections, ops.lot_methods)
--   coinbook_auditor     reads raw, ops (but the sealed credentials), derived and marts; writes nothing
--
-- Roles belong to the cluster, not to a database: they are created once, and skipped with a notice when the
-- migrating user may not create roles (an external COINBOOK_DATABASE_URL without CREATEROLE). What is granted
-- and secured lives in ops.secure_relation, which this migration runs over the catalog, dbt runs after every
-- model it builds (macros/secure_relation.sql; marts are rebuilt each run) and an event trigger runs on every
-- table created later (price-tick partitions, an extra venue's raw tables).

do $$
declare
    r record;
    is_super boolean := (select rolsuper from pg_roles where rolname = current_user);
    may_create boolean := (select rolsuper or rolcreaterole from pg_roles where rolname = current_user);
begin
    for r in select * from (values ('coinbook_pipeline', 'nologin bypassrls'), ('coinbook_manager', 'nologin'),
                                   ('coinbook_accountant', 'nologin'), ('coinbook_auditor', 'nologin')) v (name, options)
    loop
        continue when exists (select 1 from pg_roles where rolname = r.name);
        if not may_create then
            raise notice 'role % not created: % may not create roles (ask an administrator)', r.name, current_user;
            continue;
        end if;
        begin
            -- Only a superuser may give BYPASSRLS; without it the pipeline role is created as a plain role.
            execute format('create role %I %s', r.name,
                           case when is_super then r.options else 'nologin' end);
        exception when duplicate_object or unique_violation then
            null;  -- another database's migration created it meanwhile (test sessions migrate concurrently)
        end;
    end loop;
end $$;

-- dbt creates these too; here so that grants on them can be given before its first build.
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;

-- A login's tenants in this database (the login itself is cluster-wide: warehouse/users.py).
create table if not exists ops.user_tenants (
    login      text not null,
    tenant_id  text not null,
    added_at   timestamptz not null default now(),
    primary key (login, tenant_id)
);

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
        when nsp = 'ops' and name in ('tenants', 'portfolios', 'accounts')
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

-- Schemas: the pipeline works in all of them; a reader may enter those it reads (ops for its memberships).
do $$
declare
    s text;
begin
    if exists (select 1 from pg_roles where rolname = 'coinbook_pipeline') then
        execute format('grant create, connect on database %I to coinbook_pipeline', current_database());
        foreach s in array array['raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts'] loop
            execute format('grant usage, create on schema %I to coinbook_pipeline', s);
            execute format('grant all on all sequences in schema %I to coinbook_pipeline', s);
            execute format('alter default privileges in schema %I grant all on tables to coinbook_pipeline', s);
            execute format('alter default privileges in schema %I grant all on sequences to coinbook_pipeline', s);
        end loop;
    end if;
    if exists (select 1 from pg_roles where rolname = 'coinbook_manager') then
        grant usage on schema marts, ops to coinbook_manager;
    end if;
    if exists (select 1 from pg_roles where rolname = 'coinbook_accountant') then
        grant usage on schema marts, ops to coinbook_accountant;
        grant usage on all sequences in schema ops to coinbook_accountant;
    end if;
    if exists (select 1 from pg_roles where rolname = 'coinbook_auditor') then
        grant usage on schema marts, ops, raw, derived, audit to coinbook_auditor;
    end if;
end $$;

-- Every table and view there is now.
do $$
declare
    rel regclass;
begin
    for rel in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where c.relkind in ('r', 'p', 'v')
                  and n.nspname in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts')
    loop
        perform ops.secure_relation(rel);
    end loop;
end $$;

-- Every table and view created later, by whoever creates it (an event trigger needs a superuser; dbt's
-- post-hook covers the marts without one).
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
    end loop;
end $fn$;

do $$
begin
    if not (select rolsuper from pg_roles where rolname = current_user) then
        raise notice 'no event trigger: % is not a superuser; tables created later are secured by dbt''s '
                     'post-hook only', current_user;
    elsif not exists (select 1 from pg_event_trigger where evtname = 'coinbook_secure_new_relations') then
        create event trigger coinbook_secure_new_relations on ddl_command_end
            when tag in ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE VIEW')
            execute function ops.secure_new_relations();
    end if;
end $$;
