-- V047: a second row-hash definition for the audit chain, cheaper to compute (issue 16 §1: "chaining adds <= 15 % to
-- a bulk load"; bench/bench_audit.py). Links written from now on by the statement trigger are hash_version 2; every
-- link written before keeps hash_version 1 (V018's definition), and verify hashes each record by the version of
-- the link that last recorded it, so nothing chained before is chained again or verifies differently.
--
--   hash_version 1  sha256 of the row's text (record_out: every column's text output, quoted as a composite),
--                   trailing NULLs trimmed (V018, V038). Timestamps print in the session's zone and style.
--   hash_version 2  sha256 of the row's binary form (record_send) of its columns up to its last non-NULL one: the
--                   column count, then per column its type's OID, its length (-1: NULL) and its binary send
--                   output. Trailing NULL columns are left out (as in version 1: a column added later, NULL in the
--                   old rows, changes no hash). A column of a type that is not built in (an OID the next database
--                   restored from a dump would not give it) enters as its text. Independent of the session's zone
--                   and date style: a timestamptz is its microseconds, a numeric its base-10000 digits and scale.
--
-- Why it is cheaper: the row's text is every column's text output (numeric(38,18) printed with its 18 decimals,
-- timestamps formatted), then the composite's quoting pass over every character and the doubling of every '"' of
-- the payload's JSON. The binary form skips all of that (the jsonb payload is still its text: jsonb_send, half of
-- record_send's time in perf; sha256 itself is ~1 % of the trigger). Backend CPU of the chain for 100,000 trades in
-- pages of 10,000 (a new connection per page, median of three): version 1 +0.75 s, version 2 +0.54 s, over a plain
-- insert of 0.97 s; bench_audit (1,000,000 trades, load 3.1-3.6): +17.3 % / +17.9 % -> +11.4 % median.
--
-- The link's hash covers its hash_version (a version-2 link's header has one more line, the version), so a link's
-- version cannot be changed without breaking its hash; pipelines/domain/audit.py computes the same.
--   version 1: hash = sha256(prev_hash || utf8(seq \n recorded_at \n actor \n table \n operation \n) || content_hash)
--   version 2: hash = sha256(prev_hash || utf8(seq \n recorded_at \n actor \n table \n operation \n 2 \n) || content_hash)
-- A version-2 link's records are in bytewise ("C") order of their keys (V018: the database's collation, C.UTF-8 here,
-- which orders UTF-8 the same; "C" says so whatever the database's locale, and sorts faster).
-- Price-tick links (V028, V029: a (venue, day) digest) are not row hashes and stay hash_version 1.

alter table audit.chain add column if not exists hash_version smallint not null default 1
    check (hash_version in (1, 2));

-- The SQL expression of a row's version-2 hash, over `alias` (a row of `rel`): built from the catalog once per
-- statement and run set-wise, like audit.key_expression. A CASE picks the ROW of the columns up to the last
-- non-NULL one (plain column references: no per-row function call, no composite to take apart).
create or replace function audit.hash_expression(rel regclass, alias text) returns text
language sql stable set search_path = pg_catalog as $$
    with cols as (
        select row_number() over (order by a.attnum) as i, format('%I.%I', alias, a.attname) as ref,
               -- 16384 = FirstNormalObjectId: a type created in this database has an OID another would not give it
               format('%I.%I', alias, a.attname) || case when a.atttypid >= 16384 then '::text' else '' end as val
          from pg_attribute a
         where a.attrelid = rel and a.attnum > 0 and not a.attisdropped
    )
    select format('sha256(record_send(case %s else row() end))',
                  string_agg(format('when %s is not null then row(%s)', c.ref,
                                    (select string_agg(d.val, ', ' order by d.i) from cols d where d.i <= c.i)),
                             ' ' order by c.i desc))
      from cols c
$$;

create or replace function audit.link_hash(prev_hash bytea, seq bigint, recorded_at timestamptz, actor text,
                                           table_name text, operation text, content_hash bytea,
                                           hash_version smallint) returns bytea
language sql immutable parallel safe as $$
    select sha256(prev_hash || convert_to(seq::text || E'\n'
                  || to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n'
                  || actor || E'\n' || table_name || E'\n' || operation || E'\n'
                  || case when hash_version = 1 then '' else hash_version::text || E'\n' end, 'UTF8') || content_hash)
$$;

-- audit.append_content (V038) with the link's hash_version. Not callable by anyone but the triggers (it runs as its
-- owner).
create or replace function audit.append_link(tenant text, rel text, op text, keys text[], hashes bytea[],
                                             content bytea, why text, version smallint) returns void
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
    link := audit.link_hash(head.hash, next_seq, now_, session_user::text, rel, op, content, version);
    insert into audit.chain (tenant_id, seq, recorded_at, actor, table_name, operation, record_keys,
                             record_hashes, content_hash, prev_hash, hash, reason, hash_version)
    values (tenant, next_seq, now_, session_user, rel, op, keys, hashes, content, head.hash, link, why, version);
    update audit.heads set seq = next_seq, hash = link, updated_at = now_ where tenant_id = tenant;
end $fn$;
revoke all on function audit.append_link(text, text, text, text[], bytea[], bytea, text, smallint) from public;

-- The tick digests' path (audit.append → audit.append_content) writes version-1 links, as before.
create or replace function audit.append_content(tenant text, rel text, op text, keys text[], hashes bytea[],
                                                content bytea, why text) returns void
language plpgsql set search_path = pg_catalog as $fn$
begin
    perform audit.append_link(tenant, rel, op, keys, hashes, content, why, 1::smallint);
end $fn$;

-- One statement's records of `source`, per tenant: keys (bytewise order) and version-2 hashes, and their content
-- hash, from one sort (as V038).
create or replace function audit.records_query(rel regclass, source text) returns text
language sql stable set search_path = pg_catalog as $$
    select format('select x.tenant, array_agg(x.key) as keys, array_agg(x.h) as hashes,
                          sha256(string_agg(convert_to(x.key || E''\n'', ''UTF8'') || x.h, ''''::bytea)) as content
                     from (select r.tenant_id::text collate "C" as tenant, (%s) collate "C" as key, %s as h
                             from %s r order by 1, 2) x
                    group by 1 order by 1', audit.key_expression(rel, 'r'), audit.hash_expression(rel, 'r'), source)
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
        perform audit.append_link(t.tenant, rel, op, t.keys, t.hashes, t.content, why, 2::smallint);
    end loop;
    return null;
end $fn$;
