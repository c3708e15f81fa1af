-- Disposals of a tax year, for the accountant: marts.disposals with readable names and the tax year and dates
-- taken in the tenant's time zone (ops.tenants.tax_timezone, else UTC) as `coinbook report tax` takes them, so
-- `where tax_year = 2025` is the year's Form 8949 material. Unexplained withdrawals (treatment removed) stay in,
-- flagged: they are no sale, but an accountant must see them. Unknown cost or proceeds are null, never 0.
-- A table, not a view: rebuilding the mart it reads alone (e.g. the lots group from the Dagster UI) drops the
-- views over it (dbt replaces a table with DROP … CASCADE) until the next full build.
-- Indexes lead with tenant_id: a reader's query (a dashboard, psql) reads its tenant's rows, not every tenant's
-- (issue 17 §3, bench/bench_reads.py).
{{ config(materialized="table", indexes=[{"columns": ["tenant_id", "tax_year"]}]) }}
select
    d.tenant_id,
    cast(extract(year from d.disposed_at at time zone z.zone) as integer) as tax_year,
    cast(z.zone as text) as tax_timezone,
    d.portfolio_id,
    d.account_id,
    d.asset,
    d.quantity,
    cast(d.acquired_at at time zone z.zone as date) as date_acquired,
    cast(d.disposed_at at time zone z.zone as date) as date_sold,
    d.proceeds as proceeds_usd,
    d.cost as cost_basis_usd,
    d.gain as gain_usd,
    d.term,
    d.holding_days,
    d.treatment,
    d.disposal_source as disposed_by,
    d.counter_asset as received_asset,
    d.basis_known,
    d.method,
    d.disposal_event_id,
    d.slice_no,
    d.lot_id,
    d.acquired_at,
    d.disposed_at
from {{ ref('disposals') }} as d
left join {{ source('ops', 'tenants') }} as t on t.tenant_id = d.tenant_id
cross join lateral (select coalesce(t.tax_timezone, 'UTC') as zone) as z
