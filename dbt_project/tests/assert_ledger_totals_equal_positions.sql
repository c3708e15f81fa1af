{{ config(meta={"dagster": {"ref": {"name": "positions"}}}) }}
-- The ledger and the positions mart must agree: per tenant, account and asset, the sum of the ledger's
-- signed movements equals the position's quantity (zero positions are not listed in the mart). Protocol
-- receipt tokens and spam are flagged in the ledger but never held; DeFi accounts are snapshots, not ledgers.
with ledger as (
    select tenant_id, account_id, asset, sum(quantity) as quantity
    from {{ ref('int_ledger') }}
    where entry_type not in ('defi_receipt', 'spam')
    group by tenant_id, account_id, asset
),

positions as (  -- an asset's rows summed: the spot holding and what sits in the venue's other wallets
    select tenant_id, account_id, asset, sum(quantity) as quantity
    from {{ ref('positions') }}
    where account_kind <> 'defi'
    group by tenant_id, account_id, asset
)

select
    coalesce(l.tenant_id, p.tenant_id) as tenant_id,
    coalesce(l.account_id, p.account_id) as account_id,
    coalesce(l.asset, p.asset) as asset,
    l.quantity as ledger_quantity,
    p.quantity as position_quantity
from ledger as l
full outer join positions as p
    on p.tenant_id = l.tenant_id and p.account_id = l.account_id and p.asset = l.asset
where coalesce(l.quantity, 0) <> coalesce(p.quantity, 0)
