-- The alerts open now (ops.alerts without resolved_at): stale sources and prices, accounts the gate holds back,
-- risk limits breached, the circuit breaker. A view, not a table: alerts are raised and resolved by assets that
-- run after the models of a tier (freshness, risk), so a table built earlier in the run would lag them; the age
-- is counted when it is read.
{{ config(materialized='view') }}
select
    tenant_id,
    alert_id,
    kind,
    severity,
    case severity when 'critical' then 1 when 'warning' then 2 else 3 end as severity_rank,
    subject,
    message,
    raised_at,
    last_seen_at,
    round(cast(extract(epoch from (now() - raised_at)) / 3600 as numeric), 2) as age_hours
from {{ source('ops', 'alerts') }}
where resolved_at is null
