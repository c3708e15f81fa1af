{#- The values pipelines/constants.py defines for Python, for SQL (tests/unit/test_constants.py keeps them equal). -#}

{#- Market data and operator-level rows belong to no client: this tenant. -#}
{% macro public_tenant() -%}
'public'
{%- endmacro %}

{#- Nothing crypto is older than Bitcoin's genesis block. -#}
{% macro genesis_floor() -%}
timestamptz '2009-01-03 00:00:00+00'
{%- endmacro %}

{#- The raw table an entity of a source lands in: raw.<source>_<entity> (a literal source, e.g. 'btc'). -#}
{% macro raw_table(source, entity) -%}
'raw.{{ source }}_{{ entity }}'
{%- endmacro %}

{#- The raw table a staged row came from, by its `source` column: raw.<venue>_<entity>, or raw.file_records for
    CSV imports (source 'csv:<format>'). -#}
{% macro raw_table_of(entity) -%}
case when source like 'csv:%' then 'raw.file_records' else 'raw.' || source || '_{{ entity }}' end
{%- endmacro %}

{#- Compliance thresholds when a tenant has set none (EUR or USD; macros/compliance.sql). -#}
{% macro default_large_transfer() -%}
10000
{%- endmacro %}

{% macro default_unhosted_transfer() -%}
1000
{%- endmacro %}
