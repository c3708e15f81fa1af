-- What each source itself reports holding: exchange balance snapshots and on-chain wallet balances. `wallet`: the
-- venue's other wallet a balance is of (Binance Simple Earn: 'binance:earn_flexible', 'binance:earn_locked'), null
-- for the wallet the ledger books directly (an exchange's spot wallet, a chain address).
select tenant_id, account_id, source, source_record_id, record_hash, asset, free, used, total, observed_at,
       ingested_at, wallet
from {{ ref('int_exchange_balances') }}

union all

select tenant_id, account_id, source, source_record_id, record_hash, asset, free, used, total, observed_at,
       ingested_at, cast(null as text) as wallet
from {{ ref('stg_chains__balances') }}
