-- How current each account's figures are: when the marts were built, and whether the quality gate holds the
-- account back (ops.gate_partitions). A held account's figures are as of `data_through` (its data ingested up to
-- then passed the gate; null: none did) — every mart shows it as it was then, while other accounts move on.
-- Built after positions in every tier, so `built_at` is when the positions a reader sees were built.
-- depends_on: {{ ref('positions') }}
with held as (
    select
        tenant_id,
        account_id,
        min(held_since) as held_since,
        -- the account waits from its earliest hold on; none passed if any partition never did
        case when bool_and(passed_through is not null) then min(passed_through) end as data_through,
        string_agg(raw_table || ' (' || source || '): ' || reason, '; ' order by raw_table) as held_reason
    from {{ source('ops', 'gate_partitions') }}
    where held
    group by tenant_id, account_id
)
select
    a.tenant_id,
    a.account_id,
    a.kind as account_kind,
    a.venue,
    cast(now() as timestamptz) as built_at,
    h.account_id is not null as held_back,
    h.held_since,
    h.data_through,
    h.held_reason
from {{ ref('stg_ops__accounts') }} as a
left join held as h on h.tenant_id = a.tenant_id and h.account_id = a.account_id
where a.enabled
