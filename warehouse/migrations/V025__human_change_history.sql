-- V025: what was known, when (issue 16 §4). Raw rows already carry ingested_at (every raw table, file records
-- included: V001, V004, V007, V021); the choices people make by hand did not keep their past: ops.cost_basis,
-- ops.transfer_overrides, ops.lot_selections, ops.lot_methods (and ops.lot_settings) may be updated or deleted in
-- place, and the audit chain (V018) keeps only each version's hash, not its content.
--
-- Design: each of these tables stays what it is — the current view, read and written as before by the lot models,
-- the lot engine, the accountants' SQL and the audit chain's triggers — and gains an append-only history,
-- ops.<table>_history, written by a row trigger in the same transaction as the change: when (recorded_at = the
-- transaction's time, as raw.*.ingested_at), who (recorded_by = session_user, the login, as the audit chain), the
-- operation and the row as it became (a delete: as it was). Chosen over versioned rows + a current view because
-- nothing that reads or writes the tables today changes (no reader, grant, policy or audit trigger to move), and the
-- chain keeps chaining the current table; the history is what the as-of reports read: a table as recorded at K is,
-- per key, the latest history row with recorded_at <= K unless that is a delete (pipelines/services/reports/asof.py).
--
-- The rows already there when this runs enter the history as op 'existing', recorded at the time of the latest
-- audit-chain link that wrote their key (else their own entered/created/decided/chosen/updated time): the earliest
-- moment their current content is known to have been there. What they were before that is not known (only hashes).

create or replace function ops.record_history() returns trigger
language plpgsql security definer set search_path = pg_catalog as $fn$
declare
    -- TG_ARGV: the history table, then the key columns (primary key but tenant_id)
    hist text := TG_ARGV[0];
    keys text[] := TG_ARGV[1:];
    old_row jsonb := case when TG_OP in ('UPDATE', 'DELETE') then to_jsonb(OLD) end;
    new_row jsonb := case when TG_OP in ('INSERT', 'UPDATE') then to_jsonb(NEW) end;
    old_key text;
    new_key text;
begin
    if old_row is not null then
        select coalesce(string_agg(old_row ->> k, '/' order by o), '') into old_key
          from unnest(keys) with ordinality as u (k, o);
    end if;
    if new_row is not null then
        select coalesce(string_agg(new_row ->> k, '/' order by o), '') into new_key
          from unnest(keys) with ordinality as u (k, o);
    end if;
    -- an update that changes the key removes the old key: two history rows
    if TG_OP = 'DELETE' or (TG_OP = 'UPDATE' and old_key is distinct from new_key) then
        execute format('insert into %s (tenant_id, record_key, op, row_data) values ($1, $2, $3, $4)', hist)
            using old_row ->> 'tenant_id', old_key, 'delete', old_row;
    end if;
    if TG_OP in ('INSERT', 'UPDATE') then
        execute format('insert into %s (tenant_id, record_key, op, row_data) values ($1, $2, $3, $4)', hist)
            using new_row ->> 'tenant_id', new_key, lower(TG_OP), new_row;
    end if;
    return null;
end $fn$;

-- Give `rel` its history table and trigger (idempotent); seed it with the rows there now.
create or replace function ops.keep_history(rel regclass, own_time text) returns void
language plpgsql set search_path = pg_catalog as $fn$
declare
    hist text := rel::text || '_history';
    key_cols text[] := coalesce((select array_agg(a.attname::text order by k.ord)
                                   from pg_index i cross join unnest(i.indkey) with ordinality as k (attnum, ord)
                                   join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                                  where i.indrelid = rel and i.indisprimary and a.attname <> 'tenant_id'),
                                array[]::text[]);
    key_expr text := coalesce((select string_agg(format('r.%I::text', c), ' || ''/'' || ' order by o)
                                 from unnest(key_cols) with ordinality as x (c, o)), '''''');
begin
    execute format($t$
        create table if not exists %s (
            history_id   bigint generated always as identity,
            tenant_id    text not null,
            recorded_at  timestamptz not null default now(),   -- the transaction's time, as raw.*.ingested_at
            recorded_by  text not null default session_user,   -- the login, not a role it set (as audit.chain)
            op           text not null check (op in ('existing', 'insert', 'update', 'delete')),
            record_key   text not null,                        -- the primary key but tenant_id, '/'-joined
            row_data     jsonb not null,                       -- the row as it became (delete: as it was)
            primary key (tenant_id, history_id)
        )$t$, hist);
    execute format('create index if not exists %I on %s (tenant_id, record_key, recorded_at)',
                   split_part(hist, '.', 2) || '_by_key', hist);
    -- append-only, as raw.*: corrections are new rows; the maintenance path may still repair (audit.refuse_change)
    execute format('drop trigger if exists history_append_only on %s', hist);
    execute format('create trigger history_append_only before update or delete or truncate on %s '
                   'for each statement execute function audit.refuse_change()', hist);
    execute format('drop trigger if exists record_history on %s', rel);
    execute format('create trigger record_history after insert or update or delete on %s for each row '
                   'execute function ops.record_history(%s)', rel,
                   array_to_string(array_prepend(quote_literal(hist), array(select quote_literal(c) from unnest(key_cols) c)), ', '));
    -- seed: once, when the history is empty
    execute format($q$
        insert into %1$s (tenant_id, recorded_at, recorded_by, op, record_key, row_data)
        select r.tenant_id, coalesce(
                   (select max(c.recorded_at) from audit.chain c
                     where c.tenant_id = r.tenant_id and c.table_name = %2$L and %3$s = any (c.record_keys)),
                   r.%4$I, now()),
               session_user, 'existing', %3$s, to_jsonb(r)
          from %5$s r
         where not exists (select 1 from %1$s)
         order by 1, 5$q$, hist, rel::text, key_expr, own_time, rel);
    perform ops.secure_relation(hist::regclass);
end $fn$;

do $$
begin
    perform ops.keep_history('ops.cost_basis'::regclass, 'entered_at');
    perform ops.keep_history('ops.transfer_overrides'::regclass, 'created_at');
    perform ops.keep_history('ops.lot_selections'::regclass, 'chosen_at');
    perform ops.keep_history('ops.lot_methods'::regclass, 'decided_at');
    perform ops.keep_history('ops.lot_settings'::regclass, 'updated_at');
end $$;
