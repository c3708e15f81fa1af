-- The reconciliation's breaks, kept build after build: each time marts.reconciliation is built (the nightly tier,
-- coinbook run: whenever a balance, a ledger entry or a price it reads changed; a transform with nothing new keeps
-- it, and this history, as they are — services/dbt_reuse.py) its breaks are appended with the build's time, so
-- "since when does acme-kraken's SOL not agree" has an answer after the mart itself has been rebuilt. A break in
-- the latest build is open now. Incremental, append-only: rows are never updated or deleted by a run, and
-- `full_refresh=false` keeps them through `dbt build --full-refresh` and `coinbook run --full-refresh` (which
-- builds the other incremental models whole: services/dbt_reuse.incremental_models).
{{ config(materialized="incremental", incremental_strategy="append", on_schema_change="fail", full_refresh=false) }}
select
    r.tenant_id,
    r.portfolio_id,
    r.account_id,
    r.asset,
    r.reported_quantity,
    r.computed_quantity,
    r.difference,
    r.reported_at,
    cast(now() as timestamptz) as observed_at
from {{ ref('reconciliation') }} as r
where r.status = 'break'
