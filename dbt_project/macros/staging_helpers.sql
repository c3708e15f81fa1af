{#- A raw row with any entry in ops.quarantine never reaches a model. -#}
{% macro not_quarantined(alias, raw_table) -%}
not exists (
    select 1 from {{ source('ops', 'quarantine') }} as q
    where q.tenant_id = {{ alias }}.tenant_id
      and q.raw_table = '{{ raw_table }}'
      and q.account_id = {{ alias }}.account_id
      and q.source = {{ alias }}.source
      and q.source_record_id = {{ alias }}.source_record_id
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
