-- Deposits and withdrawals, latest known state per venue transfer (a status change is a new raw row);
-- quarantined rows excluded.
with clean as (
    select r.*
    from {{ source('binance', 'binance_transfers') }} as r
    where {{ not_quarantined('r', 'raw.binance_transfers') }}
),

ranked as (
    select
        clean.*,
        row_number() over (
            partition by tenant_id, account_id, source, transfer_type, coalesce(transfer_id, source_record_id)
            order by ingested_at desc, source_record_id desc
        ) as version_rank
    from clean
)

select
    tenant_id,
    account_id,
    source,
    source_record_id,
    record_hash,
    coalesce(transfer_id, source_record_id) as transfer_id,
    transfer_type,
    occurred_at,
    {{ unified_asset('asset') }} as asset,
    amount,
    coalesce(fee_amount, 0) as fee_amount,
    {{ unified_asset('coalesce(fee_asset, asset)') }} as fee_asset,
    status,
    network,
    address,
    txid,
    ingested_at
from ranked
where version_rank = 1
