{#- Models land in exactly the schema their folder configures (staging, intermediate, marts), not
    dbt's default '<target schema>_<custom>': the schemas are part of the SQL interface users query. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
