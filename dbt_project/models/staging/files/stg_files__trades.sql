-- Trades from imported CSV files, in the shape of the venues' staged trades; quarantined rows excluded.
select
    r.tenant_id, r.account_id, r.source, r.source_record_id, r.record_hash, r.occurred_at,
    r.base_asset || '/' || r.quote_asset as symbol, r.base_asset, r.quote_asset, r.side, r.price, r.quantity, r.cost,
    coalesce(r.fee_amount, 0) as fee_amount, coalesce(r.fee_asset, r.quote_asset) as fee_asset,
    cast(null as text) as order_id, cast(null as boolean) as is_maker, r.ingested_at
from {{ source('files', 'file_records') }} as r
where r.record_type = 'trade' and {{ admitted('r', 'raw.file_records') }}
