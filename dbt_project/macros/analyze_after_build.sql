{#- post-hook of every model: a table just built gets its statistics now. Autovacuum would analyze it only
    after its naptime (a minute), and the models built after it in the same run would plan their joins on a
    never-analyzed table as if it held a handful of rows (see warehouse/loader.py for what that cost). -#}
{% macro analyze_after_build() %}
    {%- if config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{% endmacro %}
