-- DeFi positions, latest snapshot per account (quarantined rows excluded).
with clean as (
    select r.*
    from {{ source('defi', 'defi_positions') }} as r
    where {{ admitted('r', 'raw.defi_positions') }}
),

latest as (
    select tenant_id, account_id, max(observed_at) as observed_at from clean group by tenant_id, account_id
)

select c.tenant_id, c.account_id, c.source, c.source_record_id, c.record_hash, c.protocol, c.position_type,
       c.asset, c.quantity, c.health_factor, c.pool, c.chain, c.block_number, c.observed_at
from clean as c
join latest as l on l.tenant_id = c.tenant_id and l.account_id = c.account_id and l.observed_at = c.observed_at
