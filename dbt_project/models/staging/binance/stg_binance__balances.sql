-- Exchange-reported balances, one row per account, asset and snapshot; quarantined rows excluded.
select
    r.tenant_id,
    r.account_id,
    r.source,
    r.source_record_id,
    r.record_hash,
    {{ unified_asset('r.asset', 'r.source') }} as asset,
    r.free,
    r.used,
    r.total,
    r.observed_at,
    r.ingested_at
from {{ source('binance', 'binance_balances') }} as r
where {{ not_quarantined('r', 'raw.binance_balances') }}
