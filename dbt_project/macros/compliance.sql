{#- The thresholds each tenant has now: its latest ops.compliance_thresholds row, else the defaults — 10,000 for
    large transfers and 1,000 for unhosted-wallet transfers (EU Transfer of Funds Regulation 2023/1113), in the
    tenant's base currency when it is EUR or USD, else EUR. -#}
{% macro compliance_thresholds() %}
select
    t.tenant_id,
    t.name as tenant_name,
    coalesce(c.currency, case when t.base_currency in ('EUR', 'USD') then t.base_currency else 'EUR' end) as currency,
    coalesce(c.large_amount, {{ default_large_transfer() }}) as large_amount,
    coalesce(c.unhosted_amount, {{ default_unhosted_transfer() }}) as unhosted_amount,
    c.set_at
from {{ source('ops', 'tenants') }} as t
left join lateral (
    select * from {{ source('ops', 'compliance_thresholds') }} as x
    where x.tenant_id = t.tenant_id order by x.set_at desc limit 1
) as c on true
{% endmacro %}

{#- The tenant's own name for originator / beneficiary: its KYC client's latest name, else ops.tenants.name. -#}
{% macro kyc_client_names() %}
select distinct on (s.tenant_id) s.tenant_id, s.name
from {{ source('ops', 'kyc_subjects') }} as s
where s.kind = 'client'
order by s.tenant_id, s.recorded_at desc, s.subject_id
{% endmacro %}

{#- The rows of transfers_valued over `amount_column` of the thresholds, with the columns both compliance marts
    share. "Exceeding", as TFR art. 14(5) and 16(2) say ("exceeding EUR 1 000"): a transfer of exactly the
    threshold is not listed. -#}
{% macro thresholded_transfers(amount_column, where) %}
with thresholds as (
    {{ compliance_thresholds() }}
),

clients as (
    {{ kyc_client_names() }}
),

rows_ as (
    select
        v.*,
        th.currency as value_currency,
        th.{{ amount_column }} as threshold,
        case when th.currency = 'EUR' then v.value_eur else v.value_usd end as value,
        coalesce(cl.name, th.tenant_name) as own_name,
        case v.counterparty_kind
            when 'own_wallet' then coalesce(cl.name, th.tenant_name) || ' (own wallet'
                                   || coalesce(' ' || v.own_account_id, '') || coalesce(': ' || v.counterparty_address, '') || ')'
            when 'venue' then coalesce(v.counterparty_venue, 'a venue') || coalesce(' (' || v.other_account_id || ', ' || coalesce(cl.name, th.tenant_name) || ')', '')
                              || coalesce(': ' || v.counterparty_address, '')
            else v.counterparty_address
        end as other_side
    from {{ ref('transfers_valued') }} as v
    join thresholds as th on th.tenant_id = v.tenant_id
    left join clients as cl on cl.tenant_id = v.tenant_id
)

select
    cast(r.tenant_id as text) as tenant_id,
    cast(r.transfer_key as text) as transfer_key,
    cast(r.account_id as text) as account_id,
    cast(r.account_venue as text) as account_venue,
    cast(r.source as text) as source,
    cast(r.source_record_id as text) as source_record_id,
    cast(r.occurred_at as timestamptz) as occurred_at,
    cast(r.direction as text) as direction,
    cast(r.asset as text) as asset,
    cast(r.amount as numeric(38, 18)) as amount,
    cast(r.value as numeric(38, 2)) as value,
    cast(r.value_currency as text) as value_currency,
    cast(r.threshold as numeric(38, 2)) as threshold,
    cast(r.counterparty_address as text) as counterparty_address,
    cast(r.counterparty_kind as text) as counterparty_kind,
    cast(case when r.direction = 'out' then r.own_name else r.other_side end as text) as originator,
    cast(case when r.direction = 'out' then r.other_side else r.own_name end as text) as beneficiary,
    cast(r.counterparty_kind = 'own_wallet' as boolean) as own_wallet,
    cast(r.internal as boolean) as internal,
    cast(r.match_id as text) as match_id,
    cast(r.txid as text) as txid,
    cast(r.value is null as boolean) as unvalued
from rows_ as r
where ({{ where }}) and (r.value is null or r.value > r.threshold)
{% endmacro %}
