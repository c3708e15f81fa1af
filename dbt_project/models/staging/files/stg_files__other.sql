-- Income (staking, rewards, airdrops: an acquisition at fair value on receipt) and stand-alone fees from
-- imported CSV files.
select
    r.tenant_id, r.account_id, r.source, r.source_record_id, r.record_hash, r.record_type, r.income_kind,
    r.occurred_at, r.asset, r.amount, r.txid, r.ingested_at
from {{ source('files', 'file_records') }} as r
where r.record_type in ('income', 'fee') and {{ admitted('r', 'raw.file_records') }}
