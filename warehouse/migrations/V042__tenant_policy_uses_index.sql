-- V042: the tenant policy as an index condition. Same rows visible to the same logins as V029's policy; only its
-- form changes, so that a reader's query on a tenant_id-leading index reads its own tenants' rows only.

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
            -- `= any (array …)`, not `= 'public' or in (select …)`: the array is an init plan computed once, and
            -- the condition an index condition on a tenant_id-leading index; the OR with a hashed subplan made a
            -- query without its own tenant filter read every tenant's rows (bench_reads, V042).
            execute format('create policy tenant_isolation on %s using (tenant_id = any (array[%L] || '
                           'array(select u.tenant_id from ops.user_tenants u where u.login = current_user)))',
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

-- Every table again: the new policy (grants and triggers unchanged).
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
end $$;
