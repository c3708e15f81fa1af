-- V049: what each dbt model and test was last built or run on (pipelines/services/dbt_reuse.py; issue 17).
-- A node's signature is a digest of its own SQL and config, the project's macros and vars, and the content of
-- every source table it reads, directly or through other models. When a node's signature is what it was at its
-- last successful build, its relation still holds exactly what a build would write, and the transform keeps it
-- instead of building it again: a run with nothing new builds nothing. A test keeps its last result the same way.
create table if not exists ops.dbt_node_builds (
    tenant_id   text not null default 'public',  -- a model holds every tenant's rows: the warehouse's own record
    unique_id   text not null,                   -- dbt's, e.g. 'model.coinbook.positions'
    signature   text not null,                   -- sha256 (see above)
    status      text not null,                   -- dbt's: success (a model, a seed), pass | warn | fail (a test)
    failures    integer,                         -- a test's failing rows
    run_id      text,                            -- the Dagster run that built it
    built_at    timestamptz not null default now(),
    primary key (tenant_id, unique_id)
);
