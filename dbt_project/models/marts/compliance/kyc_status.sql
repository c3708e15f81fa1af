-- Each tenant's KYC standing now, from the register (ops.kyc_subjects, ops.kyc_reviews): valid when its client
-- and every beneficial owner have, as their latest review, a verification whose next review is not past due
-- (UTC day). A view: a review recorded with `coinbook compliance kyc review` counts at once, and "overdue" is
-- judged the day it is read. Every report flags a tenant whose kyc_valid is false (services/compliance.kyc_flag).
{{ config(materialized='view') }}
with today as (
    select cast(now() at time zone 'UTC' as date) as day
),

subjects as (
    select distinct on (tenant_id, subject_id) tenant_id, subject_id, kind, name
    from {{ source('ops', 'kyc_subjects') }}
    order by tenant_id, subject_id, recorded_at desc
),

latest as (
    select distinct on (r.tenant_id, r.subject_id) r.*
    from {{ source('ops', 'kyc_reviews') }} as r
    order by r.tenant_id, r.subject_id, r.recorded_at desc, r.review_id desc
),

judged as (
    select
        s.tenant_id, s.subject_id, s.kind, s.name, l.status, l.verified_at, l.risk_rating, l.next_review_due,
        l.status = 'verified' and l.next_review_due < (select day from today) as overdue,
        case
            when l.status is null then 'none recorded'
            when l.status = 'verified' and l.next_review_due < (select day from today) then 'overdue'
            when l.status = 'verified' then null
            else l.status
        end as problem
    from subjects as s
    left join latest as l on l.tenant_id = s.tenant_id and l.subject_id = s.subject_id
),

client as (
    select distinct on (tenant_id) * from judged where kind = 'client'
    order by tenant_id, (problem is null) desc, verified_at desc nulls last, subject_id
),

tenants as (
    select t.tenant_id, t.name from {{ source('ops', 'tenants') }} as t where t.tenant_id <> {{ public_tenant() }}
),

rolled as (
    select
        t.tenant_id,
        bool_or(j.overdue) as any_overdue,
        min(j.next_review_due) filter (where j.status = 'verified') as next_review_due,
        -- the worst problem first: nothing recorded, then rejected, expired, overdue, pending
        (array_agg(j.problem order by array_position(
            array['none recorded', 'rejected', 'expired', 'overdue', 'pending'], j.problem)) filter (
            where j.problem is not null))[1] as worst,
        string_agg(j.kind || ' ' || j.subject_id || ': ' || j.problem, '; ' order by j.kind, j.subject_id)
            filter (where j.problem is not null) as problems
    from tenants as t
    left join judged as j on j.tenant_id = t.tenant_id
    group by t.tenant_id
)

select
    cast(t.tenant_id as text) as tenant_id,
    cast(t.name as text) as tenant_name,
    cast(c.subject_id is not null and r.worst is null as boolean) as kyc_valid,
    cast(coalesce(c.status, 'none') as text) as status,
    cast(c.verified_at as date) as verified_at,
    cast(c.risk_rating as text) as risk_rating,
    cast(r.next_review_due as date) as next_review_due,
    cast(coalesce(r.any_overdue, false) as boolean) as review_overdue,
    cast(case when c.subject_id is null then 'none recorded' else r.worst end as text) as reason,
    cast(case when c.subject_id is null then 'no client in the KYC register' else r.problems end as text)
        as reason_detail
from tenants as t
join rolled as r on r.tenant_id = t.tenant_id
left join client as c on c.tenant_id = t.tenant_id
