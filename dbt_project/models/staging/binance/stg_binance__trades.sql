-- Own trades, typed and with unified asset codes; quarantined rows excluded.
select
    r.tenant_id,
    r.account_id,
    r.source,
    r.source_record_id,
    r.record_hash,
    r.occurred_at,
    r.symbol,
    {{ unified_asset('r.base_asset', 'r.source') }} as base_asset,
    {{ unified_asset('r.quote_asset', 'r.source') }} as quote_asset,
    r.side,
    r.price,
    r.quantity,
    r.cost,
    coalesce(r.fee_amount, 0) as fee_amount,
    {{ unified_asset('r.fee_asset', 'r.source') }} as fee_asset,
    r.order_id,
    r.is_maker,
    r.ingested_at
from {{ source('binance', 'binance_trades') }} as r
where {{ not_quarantined('r', 'raw.binance_trades') }}
