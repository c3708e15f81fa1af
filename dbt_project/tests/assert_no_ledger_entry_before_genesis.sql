-- Nothing crypto happened before Bitcoin's genesis block: a ledger entry dated earlier is a unit mistake (seconds
-- read as milliseconds) the quality gate should have quarantined. Fails with the entries found.
select ledger_entry_id, raw_table, source_record_id, occurred_at
from {{ ref('int_ledger') }}
where occurred_at < {{ genesis_floor() }}
