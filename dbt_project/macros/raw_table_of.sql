{#- The raw table a staged row came from: raw.<venue>_<entity>, or raw.file_records for CSV imports. -#}
{% macro raw_table_of(entity) -%}
case when source like 'csv:%' then 'raw.file_records' else 'raw.' || source || '_{{ entity }}' end
{%- endmacro %}
