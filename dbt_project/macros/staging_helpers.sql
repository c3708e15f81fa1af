{#- A raw row reaches the models when it is admitted by the quality gate: not in ops.quarantine, and not of an
    account the gate holds back (ops.gate_partitions: a partition of that account failed its limit; the account's
    rows ingested after it last passed wait, in every raw table, so it stays consistent as of its last good data). -#}
{% macro admitted(alias, raw_table) -%}
not exists (
    select 1 from {{ source('ops', 'quarantine') }} as q
    where q.tenant_id = {{ alias }}.tenant_id
      and q.raw_table = '{{ raw_table }}'
      and q.account_id = {{ alias }}.account_id
      and q.source = {{ alias }}.source
      and q.source_record_id = {{ alias }}.source_record_id
)
and not exists (
    select 1 from {{ source('ops', 'gate_partitions') }} as h
    where h.held
      and h.tenant_id = {{ alias }}.tenant_id
      and h.account_id = {{ alias }}.account_id
      and (h.passed_through is null or {{ alias }}.ingested_at > h.passed_through)
)
{%- endmacro %}

{#- ccxt already unifies most asset codes; asset_aliases holds the exceptions, per source. -#}
{% macro unified_asset(column, source_column='source') -%}
coalesce(
    (select a.asset from {{ ref('asset_aliases') }} as a
     where a.source = {{ source_column }} and a.native_code = {{ column }}),
    {{ column }}
)
{%- endmacro %}
