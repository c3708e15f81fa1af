-- What the quality gate kept out of the models, per source: the rows of ops.quarantine (the gate's failing rows, a
-- loader's rejected file lines, responses that could not be parsed) counted per tenant, account, source, raw table
-- and class of reason, beside the gate's last verdict on that partition (ops.gate_partitions: rows checked, share
-- quarantined, held or not). A partition with nothing quarantined has one row, reason_class 'none' and counts 0, so
-- a clean source shows as clean rather than missing.
-- gate_checked_at is the gate's last judgement as of this table's build: every gate run stamps it, which is not a
-- reason to build anything again (ops.gate_partitions' digest leaves it out, services/dbt_reuse.py); the table is
-- built again when a count, a hold or a reason changes. (Not a view: a view reads with its reader's rights, and a
-- tenant's reader has no rights on ops.gate_partitions or ops.quarantine.)
{{ config(meta={'coinbook': {'reads_digest_ignored': ['checked_at']}}) }}
with quarantined as (
    select
        tenant_id,
        account_id,
        source,
        raw_table,
        -- the expectation's family (GX names them expect_<rule>(<columns>)), or what else put the row there
        case
            when check_name like 'expect_column_values_to_not_be_null%' then 'missing_value'
            when check_name like 'expect_column_values_to_be_between%' then 'out_of_range'
            when check_name like 'expect_column_values_to_be_in_set%' then 'unexpected_value'
            when check_name like 'expect_column_values_to_match_regex%' then 'malformed'
            when check_name like 'expect_column_pair_values_%' then 'inconsistent_values'
            when check_name like 'expect_compound_columns_to_be_unique%' then 'duplicate'
            when check_name = 'unparseable_response' then 'unparseable_response'
            when check_name like 'import:%' then 'rejected_file_line'
            else 'other'
        end as reason_class,
        source_record_id,
        substring(check_name from '\((.*)\)') as checked_columns,
        reason,
        quarantined_at
    from {{ source('ops', 'quarantine') }}
),

per_class as (
    select
        tenant_id,
        account_id,
        source,
        raw_table,
        reason_class,
        count(distinct source_record_id) as quarantined_records,
        count(*) as failed_checks,
        string_agg(distinct checked_columns, ', ' order by checked_columns) as checked_columns,
        max(quarantined_at) as newest_quarantined_at,
        -- the newest row's reason, as an example of the class; one record fails several checks at the same
        -- time, so its columns and the reason break the tie (else the example depends on the rows' physical order)
        (array_agg(reason order by quarantined_at desc, source_record_id, checked_columns, reason))[1] as example_reason
    from quarantined
    group by tenant_id, account_id, source, raw_table, reason_class
)

select
    coalesce(q.tenant_id, p.tenant_id) as tenant_id,
    coalesce(q.account_id, p.account_id) as account_id,
    coalesce(q.source, p.source) as source,
    coalesce(q.raw_table, p.raw_table) as raw_table,
    coalesce(q.reason_class, 'none') as reason_class,
    coalesce(q.quarantined_records, 0) as quarantined_records,
    coalesce(q.failed_checks, 0) as failed_checks,
    q.checked_columns,
    q.example_reason,
    q.newest_quarantined_at,
    p.rows_checked,
    p.quarantined as partition_quarantined,
    round(p.quarantined::numeric / nullif(p.rows_checked, 0), 6) as partition_quarantined_share,
    coalesce(p.held, false) as held,
    p.checked_at as gate_checked_at
from per_class as q
full outer join {{ source('ops', 'gate_partitions') }} as p
    on p.tenant_id = q.tenant_id and p.account_id = q.account_id and p.source = q.source
   and p.raw_table = q.raw_table
