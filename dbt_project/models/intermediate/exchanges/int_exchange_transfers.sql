-- Deposits and withdrawals of every venue (latest state per venue transfer), plus those of imported CSV
-- exports that the API did not deliver: a file transfer is the API's when the venue id or the transaction hash
-- agree, or type, asset and amount agree within the same minute. A Binance statement's withdrawal is the whole
-- debit ("Withdraw fee is included"): it is the API's when it equals the API's amount plus its fee in that coin.
with api as (
    {{ union_venues('transfers') }}
),

files as (
    select * from {{ ref('stg_files__transfers') }}
)

select * from api

union all

select f.*
from files as f
where not exists (
    select 1 from api as a
    where a.tenant_id = f.tenant_id and a.account_id = f.account_id and a.transfer_type = f.transfer_type
      and a.asset = f.asset
      and (a.transfer_id = f.transfer_id
           or lower(a.txid) = lower(f.txid)
           or (date_trunc('minute', a.occurred_at) = date_trunc('minute', f.occurred_at)
               and (a.amount = f.amount
                    or (f.source = 'csv:binance_statement' and a.transfer_type = 'withdrawal'
                        and a.fee_asset = a.asset and a.amount + a.fee_amount = f.amount))))
)
