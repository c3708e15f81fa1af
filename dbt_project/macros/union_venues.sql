{#- One relation over every ccxt venue's staging model of an entity (var exchange_venues). -#}
{% macro union_venues(entity) %}
{%- for venue in var('exchange_venues') %}
select * from {{ ref('stg_' ~ venue ~ '__' ~ entity) }}
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{% endmacro %}
