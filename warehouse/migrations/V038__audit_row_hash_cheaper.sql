-- V038: the audit chain's statement trigger made cheaper, writing byte for byte what V018's wrote (issue 16 §1:
-- "chaining adds <= 15 % to a bulk load"; bench/bench_audit.py). Same definitions, same hashes and links: nothing
-- already chained is chained again, verify is unchanged. Backend CPU for 100,000 raw trades in pages of 10,000
-- (bench figures in the README's bench_audit section):
--
--   the row hash   V018 trims the row's trailing NULLs with rtrim(text, ',)'); in a UTF-8 database rtrim of text
--                  measures every character of the whole row text (~530 characters for a trade) before trimming its
--                  end: ~2 us of the ~8 us the hash cost a row. The UTF-8 bytes are trimmed instead: ',' and ')' are
--                  ASCII and no byte of a multi-byte character is below 0x80, so the same bytes go. Verify recomputes
--                  this for every record: it gains the same.
--   the link       V018 sorted a statement's records twice (keys, then hashes, each by key) and audit.append unnested
--                  the two arrays again to hash them together. One sort now feeds the keys, the hashes and the
--                  content hash (aggregates over a sorted subquery take its order), and audit.append_content takes
--                  the content hash as computed: ~1.5 us a row less.
--
-- (The chain trigger's transition table spilled to a temporary file at the default work_mem: the loader now sets
-- work_mem for its page, warehouse/loader.py.) tests/integration/test_audit_row_hash.py compares the hash with
-- V018's expression on awkward rows of every chained raw table, and the links with V018's arithmetic.
--
-- Measured and left: links written by the loader itself. The loader holds each row, but not PostgreSQL's text of it
-- (numeric(38,18) padding, timestamptz and jsonb output, the composite's quoting): rebuilding that text in Python
-- cost ten times what the server's record_out costs, and with the hash computed by the server (INSERT … RETURNING)
-- such a link saved nothing over the trigger's. The row's text is the cost that remains (~6 us a trade).

create or replace function audit.hash_of(record anyelement) returns bytea
language sql stable parallel safe as $$
    select sha256(rtrim(convert_to(record::text, 'UTF8'), decode('2c29', 'hex')) || decode('29', 'hex'))
$$;

-- V018's audit.append with the content hash given (computed where the keys and hashes were aggregated).
create or replace function audit.append_content(tenant text, rel text, op text, keys text[], hashes bytea[],
                                                content bytea, why text) returns void
language plpgsql set search_path = pg_catalog as $fn$
declare
    head audit.heads;
    now_ timestamptz := clock_timestamp();
    next_seq bigint;
    link bytea;
begin
    insert into audit.heads (tenant_id, seq, hash, updated_at) values (tenant, 0, decode(repeat('00', 32), 'hex'), now_)
        on conflict (tenant_id) do nothing;
    select * into head from audit.heads where tenant_id = tenant for update;
    next_seq := head.seq + 1;
    link := audit.link_hash(head.hash, next_seq, now_, session_user::text, rel, op, content);
    insert into audit.chain (tenant_id, seq, recorded_at, actor, table_name, operation, record_keys,
                             record_hashes, content_hash, prev_hash, hash, reason)
    values (tenant, next_seq, now_, session_user, rel, op, keys, hashes, content, head.hash, link, why);
    update audit.heads set seq = next_seq, hash = link, updated_at = now_ where tenant_id = tenant;
end $fn$;
revoke all on function audit.append_content(text, text, text, text[], bytea[], bytea, text) from public;

create or replace function audit.append(tenant text, rel text, op text, keys text[], hashes bytea[],
                                        why text) returns void
language plpgsql set search_path = pg_catalog as $fn$
begin
    perform audit.append_content(tenant, rel, op, keys, hashes,
        (select sha256(coalesce(string_agg(convert_to(k || E'\n', 'UTF8') || h, ''::bytea order by i), ''::bytea))
           from unnest(keys, hashes) with ordinality as u (k, h, i)), why);
end $fn$;

-- One statement's records of `source`, per tenant: keys and hashes in key order and their content hash, from one
-- sort (the subquery's order; no parallel plan reads a trigger's transition table).
create or replace function audit.records_query(rel regclass, source text) returns text
language sql stable set search_path = pg_catalog as $$
    select format('select x.tenant, array_agg(x.key) as keys, array_agg(x.h) as hashes,
                          sha256(string_agg(convert_to(x.key || E''\n'', ''UTF8'') || x.h, ''''::bytea)) as content
                     from (select r.tenant_id::text as tenant, %s as key, audit.hash_of(r) as h
                             from %s r order by 1, 2) x
                    group by 1 order by 1', audit.key_expression(rel, 'r'), source)
$$;

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
        perform audit.append_content(t.tenant, rel, op, t.keys, t.hashes, t.content, why);
    end loop;
    return null;
end $fn$;
