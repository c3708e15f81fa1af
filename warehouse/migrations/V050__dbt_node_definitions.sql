-- V050: a dbt node's definition and a test's compiled SQL, beside its signature (pipelines/services/dbt_reuse.py;
-- issue 17). The definition digests what the signature does without the data (its SQL and config, the project,
-- the columns of the source tables above it): a view whose data changed but whose definition did not is still
-- exact, and its tests run as the SQL dbt compiled for them, without starting dbt (~8 s a step).
alter table ops.dbt_node_builds add column if not exists definition text;     -- sha256, or null when unknown
alter table ops.dbt_node_builds add column if not exists compiled_sql text;   -- a test's, as dbt compiled it
