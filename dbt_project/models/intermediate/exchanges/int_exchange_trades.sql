-- Own trades of every venue, from the API and from imported CSV exports. A file trade the API also delivered
-- is dropped: same account, pair, side and quantity within the same second, paired one-to-one in time order
-- (two identical fills in one second stay two). Files only add what the API cannot serve (e.g. HTX > 120 days).
-- A Binance statement sums a second's fills into one trade (sources/files/binance_statement.py): such a trade is
-- dropped too when the API's fills of that account, pair, side and second add up to its quantity exactly.
with api as (
    {{ union_venues('trades') }}
),

files as (
    select * from {{ ref('stg_files__trades') }}
),

api_keyed as (
    select tenant_id, account_id, base_asset, quote_asset, side, quantity,
           date_trunc('second', occurred_at) as second,
           row_number() over (partition by tenant_id, account_id, base_asset, quote_asset, side, quantity,
                                           date_trunc('second', occurred_at)
                              order by occurred_at, source_record_id) as ordinal
    from api
),

api_seconds as (
    select tenant_id, account_id, base_asset, quote_asset, side, date_trunc('second', occurred_at) as second,
           sum(quantity) as quantity
    from api
    group by tenant_id, account_id, base_asset, quote_asset, side, date_trunc('second', occurred_at)
),

files_keyed as (
    select files.*,
           row_number() over (partition by tenant_id, account_id, base_asset, quote_asset, side, quantity,
                                           date_trunc('second', occurred_at)
                              order by occurred_at, source_record_id) as ordinal
    from files
)

select * from api

union all

select f.tenant_id, f.account_id, f.source, f.source_record_id, f.record_hash, f.occurred_at, f.symbol,
       f.base_asset, f.quote_asset, f.side, f.price, f.quantity, f.cost, f.fee_amount, f.fee_asset, f.order_id,
       f.is_maker, f.ingested_at
from files_keyed as f
where not exists (
    select 1 from api_keyed as a
    where a.tenant_id = f.tenant_id and a.account_id = f.account_id and a.base_asset = f.base_asset
      and a.quote_asset = f.quote_asset and a.side = f.side and a.quantity = f.quantity
      and a.second = date_trunc('second', f.occurred_at) and a.ordinal = f.ordinal
)
and not (f.source = 'csv:binance_statement' and exists (
    select 1 from api_seconds as s
    where s.tenant_id = f.tenant_id and s.account_id = f.account_id and s.base_asset = f.base_asset
      and s.quote_asset = f.quote_asset and s.side = f.side and s.second = date_trunc('second', f.occurred_at)
      and s.quantity = f.quantity
))
