-- The reconciliation breaks open now (marts.reconciliation status 'break'), each with how long it has stood: the
-- first build that saw this account and asset break by this same difference (reconciliation_break_history), and
-- how many builds saw it since. A break whose difference changes is a new break (something else moved).
-- A table, not a view: rebuilding the mart it reads alone (e.g. the lots group from the Dagster UI) drops the
-- views over it (dbt replaces a table with DROP … CASCADE) until the next full build.
{{ config(materialized="table") }}
select
    r.tenant_id,
    r.portfolio_id,
    r.account_id,
    r.asset,
    r.reported_quantity,
    r.computed_quantity,
    r.difference,
    r.reported_at,
    h.first_seen_at,
    cast(coalesce(h.builds, 0) as integer) as builds_seen
from {{ ref('reconciliation') }} as r
left join lateral (
    select min(x.observed_at) as first_seen_at, count(*) as builds
    from {{ ref('reconciliation_break_history') }} as x
    where x.tenant_id = r.tenant_id and x.account_id = r.account_id and x.asset = r.asset
      and x.difference = r.difference
) as h on true
where r.status = 'break'
