-- Cost basis entered by hand (ops.cost_basis) beside the deposit it applies to (marts.ledger), and whether it
-- applies: a row is used only for a deposit from outside (treatment external_inflow). One that names no ledger
-- entry, or an entry of another kind (e.g. a transfer since matched between own accounts), is listed with
-- `applies` false and the reason, so a typo does not go unnoticed.
{{ config(materialized="view") }}
select
    cast(b.tenant_id as text) as tenant_id,
    cast(b.entry_id as text) as entry_id,
    l.portfolio_id,
    l.account_id,
    l.asset,
    l.quantity as deposited_quantity,
    l.occurred_at as deposited_at,
    cast(b.cost as numeric(38, 18)) as cost_usd,
    cast(case when l.quantity > 0 then b.cost / l.quantity end as numeric(38, 18)) as unit_cost_usd,
    coalesce(b.acquired_at, l.occurred_at) as acquired_at,
    coalesce(l.treatment = 'external_inflow', false) as applies,
    cast(case when l.ledger_entry_id is null then 'no ledger entry ' || b.entry_id || ' of this tenant'
              when l.treatment <> 'external_inflow' then 'the entry is ' || l.treatment || ', not a deposit from outside'
         end as text) as not_applied_because,
    cast(b.entered_by as text) as entered_by,
    b.entered_at,
    cast(b.note as text) as note
from {{ source('ops', 'cost_basis') }} as b
left join {{ ref('ledger') }} as l on l.tenant_id = b.tenant_id and l.ledger_entry_id = b.entry_id
