-- The screening hits with their review: each match (marts.screening_matches) and the latest decision on it
-- (ops.screening_decisions; the earlier ones stay there, chained). A view, not a table: a decision closes its hit
-- as soon as it is recorded, not at the next run.
{{ config(materialized='view') }}
with latest as (
    select distinct on (tenant_id, hit_id) tenant_id, hit_id, decision, decided_by, decided_at, reason
    from {{ source('ops', 'screening_decisions') }}
    order by tenant_id, hit_id, decision_id desc
)

select
    m.tenant_id,
    m.hit_id,
    m.account_id,
    m.source,
    m.source_record_id,
    m.origin,
    m.direction,
    m.occurred_at,
    m.asset,
    m.amount,
    m.address,
    m.txid,
    m.list_name,
    m.list_version,
    m.entry_name,
    m.entry_uid,
    m.entry_type,
    m.programs,
    coalesce(d.decision, 'open') as decision,
    d.decided_by,
    d.decided_at,
    d.reason
from {{ ref('screening_matches') }} as m
left join latest as d on d.tenant_id = m.tenant_id and d.hit_id = m.hit_id
