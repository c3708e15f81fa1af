-- What each source itself reports holding: exchange balance snapshots and on-chain wallet balances.
select tenant_id, account_id, source, source_record_id, record_hash, asset, free, used, total, observed_at,
       ingested_at
from {{ ref('int_exchange_balances') }}

union all

select tenant_id, account_id, source, source_record_id, record_hash, asset, free, used, total, observed_at,
       ingested_at
from {{ ref('stg_chains__balances') }}
