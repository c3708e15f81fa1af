-- V028: price ticks enter the audit chain (issue 16 §1: "price ticks aside if their per-venue-day digests are
-- chained instead"). A (venue, UTC day) of ticks is loaded as a unit of up to millions of rows; chaining every tick
-- would double the load. Its digest is the record: one link per load that added ticks, key '<venue>/<day>', hash =
-- audit.tick_digest of the whole (venue, day) as it stands after the load (the latest link of a key is what verify
-- recomputes). And the tick tables become append-only like every other raw table.

-- The digest of one tenant's (venue, day) of ticks: the hour digests (every column but run_id and ingested_at,
-- tab-separated, one line per tick in key order) hashed in hour order. Hours, so that no aggregate holds a whole
-- day's text (a few hundred megabytes); the typed columns beside the payload and its hash, so that an UPDATE of a
-- price that leaves the payload alone is caught too.
create or replace function audit.tick_digest(tenant text, venue text, day date) returns bytea
language sql stable parallel safe set search_path = pg_catalog set timezone = 'UTC' set datestyle = 'ISO, YMD'
as $$
    select sha256(coalesce(string_agg(h, ''::bytea order by hour), ''::bytea))
      from (select date_trunc('hour', t.observed_at) as hour,
                   sha256(string_agg(convert_to(concat_ws(E'\t', t.source_record_id, t.observed_at::text, t.symbol,
                                                          t.base_asset, t.quote_asset, t.price::text, t.size::text,
                                                          t.payload, t.record_hash), 'UTF8'),
                                     E'\n'::bytea order by t.observed_at, t.source_record_id)) as h
              from raw.price_ticks t
             where t.tenant_id = tenant and t.source = venue
               and t.observed_at >= day::timestamptz and t.observed_at < (day + 1)::timestamptz
             group by 1) hours
$$;

-- Chain a (venue, day) as it stands: called by the tick loader in the load's transaction, after the rows went in.
-- SECURITY DEFINER (owned by the superuser, like audit.append): the loader may add this link, not write the chain.
create or replace function audit.chain_tick_day(tenant text, venue text, day date) returns bytea
language plpgsql security definer set search_path = pg_catalog set timezone = 'UTC' set datestyle = 'ISO, YMD'
as $fn$
declare
    digest bytea := audit.tick_digest(tenant, venue, day);
begin
    perform audit.append(tenant, 'raw.price_ticks', 'insert', array[venue || '/' || day::text], array[digest],
                         nullif(current_setting('coinbook.maintenance', true), ''));
    return digest;
end $fn$;

-- Append-only: the parent, each day's partition and each (day, venue) leaf (a statement names any of them).
create or replace function audit.protect_ticks(rel regclass) returns void
language plpgsql set search_path = pg_catalog as $fn$
begin
    execute format('drop trigger if exists audit_append_only on %s', rel);
    execute format('create trigger audit_append_only before update or delete or truncate on %s '
                   'for each statement execute function audit.refuse_change()', rel);
end $fn$;

do $$
declare
    rel regclass;
begin
    for rel in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = 'raw' and c.relname like 'price\_ticks%' and c.relkind in ('r', 'p') order by 1
    loop
        perform audit.protect_ticks(rel);
    end loop;
end $$;

-- New partitions (the loader creates one per day and per venue) are protected as they are created.
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
        elsif obj.object_type = 'table' and obj.schema_name = 'raw'
              and (select relname like 'price\_ticks%' from pg_class where oid = obj.objid) then
            perform audit.protect_ticks(obj.objid::regclass);
        end if;
    end loop;
end $fn$;

-- The days already loaded enter the chain once, as of this migration.
do $$
declare
    d record;
begin
    for d in select distinct tenant_id, source, day from ops.tick_loads where inserted > 0 order by 1, 2, 3
    loop
        perform audit.chain_tick_day(d.tenant_id, d.source, d.day);
    end loop;
end $$;
