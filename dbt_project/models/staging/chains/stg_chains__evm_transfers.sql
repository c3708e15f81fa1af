-- EVM movements classified against the contract registry (seed evm_contracts):
--   movement_class  'asset'    a listed token or the native coin, to or from a third party (or own account)
--                   'protocol' sent to / received from a DeFi contract (a deposit into a position, not a disposal)
--                   'receipt'  a protocol's own token (aToken, debt token, LP token, stETH): the position is
--                              valued from the DeFi snapshot instead, so it never counts twice
--                   'spam'     a token not in the registry: flagged, never valued
--                   'fee'      gas
with registry as (
    select chain, lower(address) as address, symbol, role, protocol, underlying from {{ ref('evm_contracts') }}
),

clean as (
    select r.*, case when r.direction = 'out' then lower(r.to_address) else lower(r.from_address) end as counterparty
    from {{ source('chains', 'evm_transfers') }} as r
    where {{ admitted('r', 'raw.evm_transfers') }}
)

select
    c.tenant_id, c.account_id, c.source, c.source_record_id, c.record_hash, c.chain, c.txid, c.kind,
    c.occurred_at, c.block_number, c.direction,
    case when c.kind in ('native', 'gas') then c.asset else coalesce(token.underlying, c.asset) end as asset,
    c.asset as token_symbol, c.token_contract, c.token_name, c.amount, c.from_address, c.to_address,
    c.counterparty,
    case
        when c.kind = 'gas' then 'fee'
        when c.kind = 'token' and token.address is null then 'spam'
        when c.kind = 'token' and token.role in ('receipt', 'debt', 'lp') then 'receipt'
        when counterpart.role in ('pool', 'gateway', 'router', 'lp', 'receipt') then 'protocol'
        else 'asset'
    end as movement_class,
    coalesce(counterpart.protocol, token.protocol) as protocol,
    case when c.kind = 'token' and token.address is null
         then 'token contract ' || coalesce(c.token_contract, '?') || ' (' || coalesce(c.token_name, c.asset, '?')
              || ') is not in the registry' end as spam_reason,
    c.ingested_at
from clean as c
left join registry as token on token.chain = c.chain and token.address = lower(c.token_contract)
left join registry as counterpart on counterpart.chain = c.chain and counterpart.address = c.counterparty
