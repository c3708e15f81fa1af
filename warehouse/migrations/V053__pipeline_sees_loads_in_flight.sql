-- V053: the incremental models take the rows ingested since their last build's `loaded_through`, the start of the
-- oldest transaction still open in the database (dbt_project/macros/incremental_ledger.sql, ledger_loaded_through):
-- a load in flight has stamped its rows with its own start and commits them later. A role reads another role's
-- xact_start in pg_stat_activity only as a member of it or of pg_read_all_stats. One pipeline login sees its own
-- sessions; a deployment that gives each pod or loader its own login (members of coinbook_pipeline) would not see
-- the others' loads, and a page committed after a build with an earlier ingested_at would never be booked.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'coinbook_pipeline') then
        return;
    end if;
    if (select rolsuper from pg_roles where rolname = current_user)
       or pg_has_role(current_user, 'pg_read_all_stats', 'member with admin option') then
        grant pg_read_all_stats to coinbook_pipeline;
    else
        raise notice 'pg_read_all_stats not granted to coinbook_pipeline: % may not (ask an administrator; needed '
                     'when the pipeline runs under more than one login)', current_user;
    end if;
end $$;
