-- V018: the audit chain (issue 16 §1). Every ingested record (raw.*; price ticks aside) and every change people make
-- (ops.cost_basis, ops.transfer_overrides, ops.lot_selections, ops.lot_methods) enters a per-tenant hash chain;
-- raw tables are append-only (UPDATE, DELETE and TRUNCATE refused) but through the maintenance path, which is
-- chained too. `coinbook audit verify` recomputes the chain and every record's content hash.
--
-- One link per statement and tenant: the records a statement wrote for a tenant, in key order, each with the sha256
-- of its content (audit.content_hash), hashed together into the link's content hash; the link's hash covers the
-- previous link's hash, its sequence, time, actor, table, operation and content hash. A link per statement, not per
-- record: a bulk load of 100,000 rows adds one link (and two arrays) instead of 100,000 rows, and a link still
-- names each record (table and key) and its hash.
--
--   hash = sha256(prev_hash || utf8(seq \n recorded_at \n actor \n table \n operation \n) || content_hash)
--   content_hash = sha256(utf8(key_1 \n) || record_hash_1 || utf8(key_2 \n) || record_hash_2 || …)
--   recorded_at as 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' (UTC); the first link's prev_hash is 32 zero bytes.
-- (pipelines/domain/audit.py computes the same in Python to verify it; tested against each other.)

create schema if not exists audit;

create table if not exists audit.chain (
    tenant_id      text not null,
    seq            bigint not null check (seq > 0),
    recorded_at    timestamptz not null,
    actor          text not null,                  -- session_user: the login that wrote, not a role it set
    table_name     text not null,                  -- e.g. 'raw.binance_trades'
    operation      text not null check (operation in ('insert', 'update', 'delete')),
    record_keys    text[] not null,                -- each record's key (its primary key but tenant_id, '/'-joined)
    record_hashes  bytea[] not null,               -- audit.content_hash of each record (delete: as it was)
    content_hash   bytea not null,
    prev_hash      bytea not null,
    hash           bytea not null,
    reason         text,                           -- the maintenance path's reason, when it wrote this
    primary key (tenant_id, seq)
);
create index if not exists chain_by_table on audit.chain (tenant_id, table_name, seq);

-- The head of each tenant's chain: appends lock it, so a tenant's links are written one at a time.
create table if not exists audit.heads (
    tenant_id   text primary key,
    seq         bigint not null,
    hash        bytea not null,
    updated_at  timestamptz not null
);

-- Daily checkpoints: the head as it was, kept so an auditor can hold them outside the warehouse.
create table if not exists audit.checkpoints (
    tenant_id   text not null,
    day         date not null,
    seq         bigint not null,
    hash        bytea not null,
    created_at  timestamptz not null default now(),
    primary key (tenant_id, day)
);

-- What a record's content is: the row's text (every column, in order), trailing NULLs left out — so a column added
-- later, NULL in the old rows, changes no hash (a row's text quotes any value with a comma or a parenthesis, so
-- only NULLs leave bare commas before the closing one). Timestamps print in the session's zone and date style:
-- every caller runs with timezone 'UTC' and datestyle 'ISO' (the trigger function and verify set them). The row's
-- text, not its jsonb: to_jsonb costs three times as much per row, and this runs on every load.
create or replace function audit.hash_of(record anyelement) returns bytea
language sql stable parallel safe as $$
    select sha256(convert_to(rtrim(record::text, ',)') || ')', 'UTF8'))
$$;

create or replace function audit.link_hash(prev_hash bytea, seq bigint, recorded_at timestamptz, actor text,
                                           table_name text, operation text, content_hash bytea) returns bytea
language sql immutable parallel safe as $$
    select sha256(prev_hash || convert_to(seq::text || E'\n'
                  || to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n'
                  || actor || E'\n' || table_name || E'\n' || operation || E'\n', 'UTF8') || content_hash)
$$;

-- Append one link. Not callable by anyone but the trigger below (it runs as this function's owner).
create or replace function audit.append(tenant text, rel text, op text, keys text[], hashes bytea[],
                                        why text) returns void
language plpgsql set search_path = pg_catalog as $fn$
declare
    head audit.heads;
    now_ timestamptz := clock_timestamp();
    content bytea;
    next_seq bigint;
    link bytea;
begin
    insert into audit.heads (tenant_id, seq, hash, updated_at) values (tenant, 0, decode(repeat('00', 32), 'hex'), now_)
        on conflict (tenant_id) do nothing;
    select * into head from audit.heads where tenant_id = tenant for update;
    select sha256(coalesce(string_agg(convert_to(k || E'\n', 'UTF8') || h, ''::bytea order by i), ''::bytea))
      into content from unnest(keys, hashes) with ordinality as u (k, h, i);
    next_seq := head.seq + 1;
    link := audit.link_hash(head.hash, next_seq, now_, session_user::text, rel, op, content);
    insert into audit.chain (tenant_id, seq, recorded_at, actor, table_name, operation, record_keys,
                             record_hashes, content_hash, prev_hash, hash, reason)
    values (tenant, next_seq, now_, session_user, rel, op, keys, hashes, content, head.hash, link, why);
    update audit.heads set seq = next_seq, hash = link, updated_at = now_ where tenant_id = tenant;
end $fn$;
revoke all on function audit.append(text, text, text, text[], bytea[], text) from public;

-- The key of a row of `rel` (as jsonb): its primary key's columns but tenant_id, '/'-joined, in index order.
create or replace function audit.key_columns(rel regclass) returns text[]
language sql stable set search_path = pg_catalog as $$
    select coalesce(array_agg(a.attname::text order by k.ord), array[]::text[])
      from pg_index i cross join unnest(i.indkey) with ordinality as k (attnum, ord)
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
     where i.indrelid = rel and i.indisprimary and a.attname <> 'tenant_id'
$$;

-- The SQL expression of a row's key (alias.col::text, '/'-joined): built once per statement and run set-wise (a
-- function called per row would cost more than the hashing).
create or replace function audit.key_expression(rel regclass, alias text) returns text
language sql stable set search_path = pg_catalog as $$
    select format('concat_ws(%L, %s)', '/', string_agg(format('%I.%I::text', alias, c), ', ' order by o))
      from unnest(audit.key_columns(rel)) with ordinality as x (c, o)
$$;

-- One statement's records of `source` (a table or a trigger's transition table), per tenant: their keys and
-- content hashes in key order.
create or replace function audit.records_query(rel regclass, source text) returns text
language sql stable set search_path = pg_catalog as $$
    select format('select x.tenant, array_agg(x.key order by x.key) as keys, array_agg(x.h order by x.key) as hashes
                     from (select r.tenant_id::text as tenant, %s as key, audit.hash_of(r) as h
                             from %s r) x
                    group by 1 order by 1', audit.key_expression(rel, 'r'), source)
$$;

-- After each INSERT / UPDATE / DELETE statement: one link per tenant of the rows it wrote. SECURITY DEFINER so that
-- an accountant's change to ops.cost_basis is chained without that login being able to write the chain itself.
create or replace function audit.chain_statement() returns trigger
language plpgsql security definer set search_path = pg_catalog set timezone = 'UTC' set datestyle = 'ISO, YMD'
as $fn$
declare
    rel text := quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME);
    why text := nullif(current_setting('coinbook.maintenance', true), '');
    op text := lower(TG_OP);
    t record;
begin
    -- EXECUTE sees the trigger's transition tables; a delete records the rows as they were
    for t in execute audit.records_query(TG_RELID, case when op = 'delete' then 'old_rows' else 'new_rows' end)
    loop
        perform audit.append(t.tenant, rel, op, t.keys, t.hashes, why);
    end loop;
    return null;
end $fn$;

-- Raw tables are append-only. The maintenance path (`coinbook audit maintain --reason …`) is the superuser setting
-- coinbook.maintenance to its reason for its transaction; what it changes is chained with that reason and actor.
-- (The pipeline owns the tables and could drop this trigger: a guard against mistakes; the chain, verified against
-- checkpoints kept outside, is what shows a change.)
create or replace function audit.refuse_change() returns trigger
language plpgsql set search_path = pg_catalog as $fn$
begin
    if coalesce(current_setting('coinbook.maintenance', true), '') = ''
       or not (select rolsuper from pg_roles where rolname = session_user) then
        raise exception '%.% is append-only: % refused (the audit chain records every ingested row; a correction '
                        'goes through `coinbook audit maintain --reason …`)', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
            using errcode = 'insufficient_privilege';
    end if;
    return null;
end $fn$;

-- Put a table under the chain (idempotent); `append_only` for raw tables.
create or replace function audit.protect(rel regclass, append_only boolean) returns void
language plpgsql set search_path = pg_catalog as $fn$
begin
    execute format('drop trigger if exists audit_chain_insert on %s', rel);
    execute format('drop trigger if exists audit_chain_update on %s', rel);
    execute format('drop trigger if exists audit_chain_delete on %s', rel);
    execute format('drop trigger if exists audit_append_only on %s', rel);
    execute format('create trigger audit_chain_insert after insert on %s referencing new table as new_rows '
                   'for each statement execute function audit.chain_statement()', rel);
    execute format('create trigger audit_chain_update after update on %s referencing old table as old_rows '
                   'new table as new_rows for each statement execute function audit.chain_statement()', rel);
    execute format('create trigger audit_chain_delete after delete on %s referencing old table as old_rows '
                   'for each statement execute function audit.chain_statement()', rel);
    if append_only then
        execute format('create trigger audit_append_only before update or delete or truncate on %s '
                       'for each statement execute function audit.refuse_change()', rel);
    end if;
end $fn$;

-- Which tables: raw.* but the price ticks (a venue-day partition is loaded as a unit; its digest is the record),
-- and the choices people make by hand.
create or replace function audit.is_chained(rel regclass) returns boolean
language sql stable set search_path = pg_catalog as $$
    select n.nspname = 'raw' and c.relkind = 'r' and not c.relispartition and c.relname not like 'price\_ticks%'
           or (n.nspname = 'ops' and c.relname in ('cost_basis', 'transfer_overrides', 'lot_selections', 'lot_methods'))
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = rel
$$;

do $$
declare
    rel regclass;
begin
    for rel in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname in ('raw', 'ops') and c.relkind = 'r' order by 1
    loop
        if audit.is_chained(rel) then
            perform audit.protect(rel, (select relnamespace = 'raw'::regnamespace from pg_class where oid = rel));
        end if;
    end loop;
end $$;

-- The records already there enter the chain once, as of this migration (one link per table and tenant).
do $$
declare
    rel regclass;
    t record;
begin
    set local timezone = 'UTC';
    set local datestyle = 'ISO, YMD';
    for rel in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname in ('raw', 'ops') and c.relkind = 'r' order by 1
    loop
        continue when not audit.is_chained(rel);
        for t in execute audit.records_query(rel, rel::text)
        loop
            perform audit.append(t.tenant, rel::text, 'insert', t.keys, t.hashes, 'existing rows when V018 ran');
        end loop;
    end loop;
end $$;

-- Tables created later (an extra venue's raw tables) get the chain from the event trigger of V016.
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
        if obj.object_type = 'table' and audit.is_chained(obj.objid::regclass) then
            perform audit.protect(obj.objid::regclass, obj.schema_name = 'raw');
        end if;
    end loop;
end $fn$;

-- Readers: the auditor reads the chain and checkpoints of its tenants (row-level security by tenant).
do $$
begin
    perform ops.secure_relation('audit.chain'::regclass);
    perform ops.secure_relation('audit.heads'::regclass);
    perform ops.secure_relation('audit.checkpoints'::regclass);
end $$;
