{#- post-hook of every model: grants and row-level security again on what dbt just built (warehouse migration
    V016's ops.secure_relation): a table is rebuilt by each run, and what the old one had is gone with it. A
    table with tenant_id gets ENABLE + FORCE row-level security and its tenant policy; a view reads with its
    reader's rights (security_invoker). Skipped on a database migrated before V016 (dbt's unit tests). -#}
{% macro secure_relation() %}
    {%- if config.get('materialized') in ('table', 'incremental', 'view') -%}
        do $secure$ begin
            if to_regprocedure('ops.secure_relation(regclass)') is not null then
                perform ops.secure_relation('{{ this }}'::regclass);
            end if;
        end $secure$
    {%- endif -%}
{% endmacro %}
