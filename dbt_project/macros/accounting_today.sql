{#- The last day marts/accounting/position_history lists: today (UTC). A macro so that dbt's unit tests can fix
    it (overrides: macros: accounting_today). -#}
{% macro accounting_today() -%}
cast(now() at time zone 'UTC' as date)
{%- endmacro %}
