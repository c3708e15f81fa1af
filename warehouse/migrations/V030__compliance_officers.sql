-- V030: compliance officers' own logins (issue 16 §2). Screening decisions, the KYC register and the transfer
-- thresholds are a compliance officer's to record, under the officer's own login (`coinbook users add NAME --role
-- compliance`), so that each row and its audit-chain link name the person who made the change.
--
--   coinbook_compliance  reads what an auditor reads (member of coinbook_auditor: marts, raw, ops, derived, audit,
--                        its own tenants' rows); inserts into ops.screening_decisions, ops.kyc_subjects,
--                        ops.kyc_reviews and ops.compliance_thresholds (its own tenants: row-level security);
--                        changes nothing else (the four tables are append-only, V023/V024)
--
-- Managers, accountants and auditors are refused by privilege. The pipeline owns the tables (it seeds the demo
-- world's register); what it writes is chained under its own name, coinbook_pipeline.
--
-- Who and when are stamped by the database, not taken from the statement: an officer cannot write a decision in
-- someone else's name, nor date a KYC change into the past (what an as-of report as known at K reads is each row's
-- recorded time, so it must be the time it was really recorded).

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'coinbook_compliance') then
        return;
    end if;
    if not (select rolsuper or rolcreaterole from pg_roles where rolname = current_user) then
        raise notice 'role coinbook_compliance not created: % may not create roles (ask an administrator)',
            current_user;
        return;
    end if;
    begin
        create role coinbook_compliance nologin;
    exception when duplicate_object or unique_violation then
        null;  -- another database's migration created it meanwhile (test sessions migrate concurrently)
    end;
end $$;

-- The actor and the time of a person's change: session_user (the login that connected, whatever role it set)
-- and the transaction's clock. TG_ARGV: the actor column, the time column.
create or replace function ops.stamp_actor() returns trigger
language plpgsql set search_path = pg_catalog as $$
begin
    return jsonb_populate_record(new, jsonb_build_object(tg_argv[0], session_user::text,
                                                          tg_argv[1], clock_timestamp()));
end $$;

do $$
declare
    t record;
begin
    for t in select * from (values ('ops.screening_decisions', 'decided_by', 'decided_at'),
                                   ('ops.kyc_subjects', 'recorded_by', 'recorded_at'),
                                   ('ops.kyc_reviews', 'recorded_by', 'recorded_at'),
                                   ('ops.compliance_thresholds', 'recorded_by', 'set_at')) v (rel, actor, at)
    loop
        execute format('drop trigger if exists stamp_actor on %s', t.rel);
        execute format('create trigger stamp_actor before insert on %s for each row '
                       'execute function ops.stamp_actor(%L, %L)', t.rel, t.actor, t.at);
        if exists (select 1 from pg_roles where rolname = 'coinbook_compliance') then
            execute format('grant insert on %s to coinbook_compliance', t.rel);
        end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'coinbook_compliance')
       and exists (select 1 from pg_roles where rolname = 'coinbook_auditor') then
        grant usage on schema ops to coinbook_compliance;
        begin
            grant coinbook_auditor to coinbook_compliance;
        exception when insufficient_privilege then
            -- as V016 with roles: a migrating user without the right (an external COINBOOK_DATABASE_URL) skips it
            raise notice 'coinbook_compliance not made a member of coinbook_auditor: % may not (ask an '
                         'administrator: grant coinbook_auditor to coinbook_compliance)', current_user;
        end;
    end if;
end $$;
