-- V020: marts.open_alerts is a view over ops.alerts (alerts are raised and resolved after a tier's models are built,
-- so a table would lag them): every reader of the marts reads ops.alerts too, its own tenants' rows (row-level
-- security as on every ops table). ops.secure_relation as in V017 with 'alerts' beside tenants and cost_basis.

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
        -- alerts), with their reader's rights: every reader of the marts reads them too (their own tenants' rows).
        when nsp = 'ops' and name in ('tenants', 'cost_basis', 'alerts')
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

select ops.secure_relation('ops.alerts'::regclass);
