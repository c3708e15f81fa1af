-- Every counterparty address Coinbook knows of, one row per record and address, for sanctions screening:
--   exchange withdrawals   the destination (`address`; ccxt's address / addressTo), every status: an attempt to
--                          pay a listed address matters even if it failed or was cancelled
--   Bitcoin wallets        the other side of each transaction (raw `counterparties`: senders of what came in,
--                          payees of what went out, own addresses and change left out)
--   EVM wallets            the other side of each transfer (to for out, from for in), gas left out
-- Not screened (no counterparty in the data): exchange deposits (the venue gives our own deposit address, not the
-- sender), CSV imports (no address column), trades, DeFi positions.
with exchange as (
    select tenant_id, account_id, source, source_record_id, 'exchange_withdrawal' as origin, 'out' as direction,
           occurred_at, asset, amount, address, txid
    from {{ ref('int_exchange_transfers') }}
    where transfer_type = 'withdrawal' and nullif(btrim(address), '') is not null
),

bitcoin as (
    select t.tenant_id, t.account_id, t.source, t.source_record_id, 'btc_wallet', t.direction, t.occurred_at,
           'BTC', t.amount, c.address, t.txid
    from {{ ref('stg_chains__btc_transactions') }} as t
    cross join lateral jsonb_array_elements_text(coalesce(t.counterparties, '[]'::jsonb)) as c (address)
    where t.direction in ('in', 'out') and nullif(btrim(c.address), '') is not null
),

evm as (
    select tenant_id, account_id, source, source_record_id, 'evm_wallet', direction, occurred_at, asset, amount,
           case when direction = 'out' then to_address else from_address end, txid
    from {{ ref('stg_chains__evm_transfers') }}
    where direction in ('in', 'out') and movement_class <> 'fee'
),

all_addresses as (
    select * from exchange
    union all
    select * from bitcoin
    union all
    select * from evm
)

select tenant_id, account_id, source, source_record_id, origin, direction, occurred_at, asset,
       cast(amount as numeric(38, 18)) as amount, btrim(address) as address, {{ address_key('address') }} as address_key,
       txid
from all_addresses
where nullif(btrim(address), '') is not null
