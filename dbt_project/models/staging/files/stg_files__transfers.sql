-- Deposits and withdrawals from imported CSV files, in the shape of the venues' staged transfers.
select
    r.tenant_id, r.account_id, r.source, r.source_record_id, r.record_hash,
    coalesce(r.venue_record_id, r.source_record_id) as transfer_id, r.record_type as transfer_type, r.occurred_at,
    r.asset, r.amount, coalesce(r.fee_amount, 0) as fee_amount, coalesce(r.fee_asset, r.asset) as fee_asset,
    'ok' as status, cast(null as text) as network, cast(null as text) as address, r.txid, r.ingested_at
from {{ source('files', 'file_records') }} as r
where r.record_type in ('deposit', 'withdrawal') and {{ admitted('r', 'raw.file_records') }}
