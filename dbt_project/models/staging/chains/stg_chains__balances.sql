-- Wallet balances as the chain reports them (Bitcoin per wallet; EVM native + listed tokens, spam and protocol
-- receipt tokens left out: their value is the DeFi snapshot's or nothing), in the exchange balance shape.
select r.tenant_id, r.account_id, r.source, r.source_record_id, r.record_hash, r.asset, r.free, r.used, r.total,
       r.observed_at, r.ingested_at
from {{ source('chains', 'btc_balances') }} as r
where {{ admitted('r', 'raw.btc_balances') }}

union all

select r.tenant_id, r.account_id, r.source, r.source_record_id, r.record_hash,
       coalesce(reg.underlying, r.asset), r.free, r.used, r.total, r.observed_at, r.ingested_at
from {{ source('chains', 'evm_balances') }} as r
left join {{ ref('evm_contracts') }} as reg on reg.chain = r.chain and lower(reg.address) = lower(r.token_contract)
where {{ admitted('r', 'raw.evm_balances') }}
  and (r.token_contract is null or reg.role = 'token')
