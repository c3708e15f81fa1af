-- Income of a tax year (staking, rewards, airdrops, interest) at fair value on receipt, with the tax year and date
-- in the tenant's time zone (ops.tenants.tax_timezone, else UTC) like tax_year_disposals. A value of null: no
-- price was found (also in missing_cost_basis), never 0.
-- A table, not a view: rebuilding the mart it reads alone (e.g. the lots group from the Dagster UI) drops the
-- views over it (dbt replaces a table with DROP … CASCADE) until the next full build.
{{ config(materialized="table") }}
select
    i.tenant_id,
    cast(extract(year from i.occurred_at at time zone z.zone) as integer) as tax_year,
    cast(z.zone as text) as tax_timezone,
    i.portfolio_id,
    i.account_id,
    i.asset,
    i.quantity,
    cast(i.occurred_at at time zone z.zone as date) as date_received,
    i.value_usd,
    i.valuation,
    i.event_id,
    i.occurred_at
from {{ ref('income') }} as i
left join {{ source('ops', 'tenants') }} as t on t.tenant_id = i.tenant_id
cross join lateral (select coalesce(t.tax_timezone, 'UTC') as zone) as z
