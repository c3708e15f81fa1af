-- Bitcoin wallet transactions (the wallet's view), quarantined rows excluded.
select
    r.tenant_id, r.account_id, r.source, r.source_record_id, r.record_hash, r.txid, r.occurred_at, r.block_height,
    r.direction, r.amount, coalesce(r.fee_amount, 0) as fee_amount, r.counterparties, r.ingested_at
from {{ source('chains', 'btc_transactions') }} as r
where {{ admitted('r', 'raw.btc_transactions') }}
