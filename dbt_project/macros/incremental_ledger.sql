{#- The ledger built incrementally (int_ledger, marts.ledger; issue 17 §2): a run books again only the records that
    can have changed, not the whole history.

    What a ledger row depends on, and so what a run books again:
    - an exchange API trade (raw.<venue>_trades) is one row of its own that never changes (the raw key is its
      source id): its legs depend on that row alone. Booked again: the API trades ingested since the last build
      (`ledger_loaded_through`: rows committed late by a load still running are taken too), and the records
      quarantined since.
    - everything else (transfers, whose versions replace each other; imported files, which give way to what the
      API delivered; wallets; a venue's paired wallet moves) depends on other rows of the same account, never of
      another account. Booked again: every such row of each account with anything ingested or quarantined since.
    - what is not in the raw rows: the accounts' portfolios and the gate's holds (a released hold admits old rows)
      are the models' `incremental_context` (services/dbt_reuse.py): when it changes the model is built whole, as
      when its SQL changes or with `coinbook run --full-refresh`.
    The batch holds every row of every record it books again, plus one row per such record with a null row key
    (a tombstone: the record may book nothing now); strategy `replace_keys` deletes the target's rows of those
    records and inserts the rest. -#}

{#- The raw tables the ledger is booked from (as relations): the venues' API trades first, then the others (the
    venues' transfers, the chains', the imported files). `part`: 'api_trades' or 'others' for one part only. -#}
{% macro ledger_raw_tables(part=none) %}
    {%- set api_trades, others = [], [] -%}
    {%- for venue in var('exchange_venues') -%}
        {%- do api_trades.append(source(venue, venue ~ '_trades')) -%}
        {%- do others.append(source(venue, venue ~ '_transfers')) -%}
    {%- endfor -%}
    {%- do others.append(source('chains', 'btc_transactions')) -%}
    {%- do others.append(source('chains', 'evm_transfers')) -%}
    {%- do others.append(source('files', 'file_records')) -%}
    {{ return({'api_trades': api_trades, 'others': others}.get(part, api_trades + others)) }}
{% endmacro %}

{#- A part's tables as int_ledger.raw_table spells them ('raw.binance_trades', …): a list, not `not in` the other
    part, so that an index on (raw_table, tenant_id, account_id) finds an account's records. -#}
{% macro raw_table_names(part) -%}
    {%- for t in ledger_raw_tables(part) %}'{{ t.schema }}.{{ t.identifier }}'{% if not loop.last %}, {% endif %}{% endfor -%}
{%- endmacro %}

{% macro api_trade_tables() -%}{{ raw_table_names('api_trades') }}{%- endmacro %}

{% macro ledger_other_tables() -%}{{ raw_table_names('others') }}{%- endmacro %}

{#- Every raw row ingested before this time is committed now: the build time, or the start of the oldest other
    transaction still open in the database if earlier (a raw row's ingested_at is its load transaction's start, so
    a sync's page or a file import that began before the build and commits after it has an ingested_at before the
    build: the next build must take it). A constant of the build, on every row it books. -#}
{% macro ledger_loaded_through() -%}
(select least(now(), min(a.xact_start)) from pg_stat_activity as a
 where a.datname = current_database() and a.pid <> pg_backend_pid() and a.xact_start is not null)
{%- endmacro %}

{#- What this run books again, as literals (pushed down into every staging view):
    since     the ingestion time from which rows are taken: the last build's `loaded_through`
    accounts  (tenant_id, account_id) of every account with a row ingested or quarantined since then
    None at parse time. -#}
{% macro ledger_scope(relation) %}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set since = run_query("select coalesce(max(loaded_through), '-infinity'::timestamptz)::text from "
                              ~ relation).columns[0].values()[0] -%}
    {%- set touched -%}
        select distinct tenant_id, account_id from (
        {%- for t in ledger_raw_tables() %}
            select tenant_id, account_id from {{ t }} where ingested_at >= '{{ since }}'::timestamptz union all
        {%- endfor %}
            select tenant_id, account_id from {{ source('ops', 'quarantine') }}
            where quarantined_at >= '{{ since }}'::timestamptz
        ) as s order by 1, 2
    {%- endset -%}
    {%- set rows = run_query(touched) -%}
    {%- set scope = {'since': since, 'accounts': rows.rows | map('list') | list} -%}
    {#- of those, the accounts with imported files: their transfers and trades give way to the API's -#}
    {%- set files -%}
        select distinct tenant_id, account_id from {{ source('files', 'file_records') }}
        where {{ in_scope_accounts(scope) }} order by 1, 2
    {%- endset -%}
    {%- do scope.update({'file_accounts': run_query(files).rows | map('list') | list}) -%}
    {%- do log(relation.identifier ~ ': incremental, the records ingested or quarantined since ' ~ since ~ ' ('
               ~ (scope.accounts | length) ~ ' accounts with news, ' ~ (scope.file_accounts | length)
               ~ ' with imported files)', info=True) -%}
    {{ return(scope) }}
{% endmacro %}

{#- `(tenant_id, account_id) in (…)` for the scope's accounts (false when there are none). -#}
{% macro in_scope_accounts(scope, alias=none, key='accounts') -%}
    {%- set p = (alias ~ '.') if alias else '' -%}
    {%- if scope[key] -%}
        ({{ p }}tenant_id, {{ p }}account_id) in (
        {%- for a in scope[key] %}('{{ a[0] }}', '{{ a[1] }}'){% if not loop.last %}, {% endif %}{% endfor -%})
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- The records a run books again (see the header), as their `source_key`, from `relation` (int_ledger or
    marts.ledger, each with its own scope) and the raw tables: the API trades ingested or quarantined since, and
    every record of the scope's accounts that is not an API trade. -#}
{% macro ledger_touched_keys(scope, relation) %}
    {%- for t in ledger_raw_tables('api_trades') %}
    select {{ ledger_source_key("'" ~ t.schema ~ "." ~ t.identifier ~ "'", 'r.tenant_id', 'r.account_id', 'r.source', 'r.source_record_id') }}
        as source_key
    from {{ t }} as r
    where r.ingested_at >= '{{ scope.since }}'::timestamptz
    union all
    {%- endfor %}
    select {{ ledger_source_key('q.raw_table', 'q.tenant_id', 'q.account_id', 'q.source', 'q.source_record_id') }}
        as source_key
    from {{ source('ops', 'quarantine') }} as q
    where q.quarantined_at >= '{{ scope.since }}'::timestamptz and q.raw_table in ({{ api_trade_tables() }})
    union all
    select source_key from {{ relation }}
    where raw_table in ({{ ledger_other_tables() }}) and {{ in_scope_accounts(scope) }}
{% endmacro %}

{#- The entries of `ledger` (int_ledger or marts.ledger) a build books again: the API trades ingested since and the
    other records of the scope's accounts (each part found by an index), and those of the records `also` selects
    (a query of source_key: the rematched, the repriced). -#}
{% macro ledger_entries_again(scope, ledger, also) %}
    select ledger_entry_id from {{ ledger }}
    where raw_table in ({{ api_trade_tables() }}) and ingested_at >= '{{ scope.since }}'::timestamptz
    union
    select ledger_entry_id from {{ ledger }}
    where raw_table in ({{ ledger_other_tables() }}) and {{ in_scope_accounts(scope) }}
    union
    select l.ledger_entry_id from {{ ledger }} as l where l.source_key in ({{ also }})
{% endmacro %}

{#- A record's key: the raw row the ledger rows are booked from (all its legs share it). -#}
{% macro ledger_source_key(raw_table, tenant_id, account_id, source, source_record_id) -%}
md5({{ raw_table }} || '|' || {{ tenant_id }} || '|' || {{ account_id }} || '|' || {{ source }} || '|' || {{ source_record_id }})
{%- endmacro %}

{#- Strategy `replace_keys` (dbt: get_incremental_<strategy>_sql): the target's rows of every record in the batch
    (`unique_key`) deleted, the batch's rows inserted but its tombstones (`row_key` null). -#}
{% macro get_incremental_replace_keys_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} as t using (select distinct {{ key }} from {{ batch }}) as b where t.{{ key }} = b.{{ key }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ batch }} where {{ config.require('row_key') }} is not null
{% endmacro %}
