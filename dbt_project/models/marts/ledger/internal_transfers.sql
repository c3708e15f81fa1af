-- Coins moved between a tenant's own accounts: each withdrawal matched to its deposit, with how it was matched
-- (override, txid, amount_time) and what the move cost (fee_gap = sent − received).
select
    cast(m.tenant_id as text) as tenant_id,
    cast(m.match_id as text) as match_id,
    cast(m.asset as text) as asset,
    cast(m.out_account_id as text) as from_account_id,
    cast(fa.venue as text) as from_venue,
    cast(m.in_account_id as text) as to_account_id,
    cast(ta.venue as text) as to_venue,
    cast(m.sent as numeric(38, 18)) as sent,
    cast(m.received as numeric(38, 18)) as received,
    cast(m.fee_gap as numeric(38, 18)) as fee_gap,
    cast(m.sent_at as timestamptz) as sent_at,
    cast(m.received_at as timestamptz) as received_at,
    cast(m.method as text) as method,
    cast(m.txid as text) as txid,
    cast(m.out_entry_id as text) as out_entry_id,
    cast(m.in_entry_id as text) as in_entry_id
from {{ source('derived', 'transfer_matches') }} as m
left join {{ ref('stg_ops__accounts') }} as fa on fa.tenant_id = m.tenant_id and fa.account_id = m.out_account_id
left join {{ ref('stg_ops__accounts') }} as ta on ta.tenant_id = m.tenant_id and ta.account_id = m.in_account_id
