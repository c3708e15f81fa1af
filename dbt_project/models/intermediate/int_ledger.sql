-- The unified ledger: one signed movement per leg, per tenant, account and asset.
--   buy   → +quantity of base, −cost of quote        (entry_type trade_buy)
--   sell  → −quantity of base, +cost of quote        (entry_type trade_sell)
--   fee   → −fee in the fee asset                    (entry_type trade_fee)
--   deposit (status ok)                 → +amount     (entry_type deposit)
--   withdrawal (not failed / canceled)  → −amount, and −fee in the fee asset (withdrawal, withdrawal_fee)
-- Deposits that are pending, failed or canceled move nothing yet.
with trades as (
    select * from {{ ref('int_exchange_trades') }}
),

transfers as (
    select * from {{ ref('int_exchange_transfers') }}
),

legs as (
    select tenant_id, account_id, source, source_record_id, record_hash, 'raw.' || source || '_trades' as raw_table,
           'trade_' || side as entry_type, 'base' as leg, occurred_at, base_asset as asset,
           case when side = 'buy' then quantity else -quantity end as quantity, quote_asset as counter_asset
    from trades

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, 'raw.' || source || '_trades',
           'trade_' || side, 'quote', occurred_at, quote_asset,
           case when side = 'buy' then -cost else cost end, base_asset
    from trades

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, 'raw.' || source || '_trades',
           'trade_fee', 'fee', occurred_at, fee_asset, -fee_amount, null
    from trades
    where fee_amount <> 0

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, 'raw.' || source || '_transfers',
           transfer_type, 'amount', occurred_at, asset,
           case when transfer_type = 'deposit' then amount else -amount end, null
    from transfers
    where (transfer_type = 'deposit' and status = 'ok')
       or (transfer_type = 'withdrawal' and status not in ('failed', 'canceled'))

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, 'raw.' || source || '_transfers',
           'withdrawal_fee', 'fee', occurred_at, fee_asset, -fee_amount, null
    from transfers
    where transfer_type = 'withdrawal' and status not in ('failed', 'canceled') and fee_amount <> 0
)

select
    md5(legs.raw_table || '|' || legs.tenant_id || '|' || legs.account_id || '|' || legs.source || '|'
        || legs.source_record_id || '|' || legs.leg) as ledger_entry_id,
    legs.tenant_id,
    accounts.portfolio_id,
    legs.account_id,
    legs.source,
    legs.source_record_id,
    legs.raw_table,
    legs.record_hash,
    legs.entry_type,
    legs.leg,
    legs.occurred_at,
    legs.asset,
    cast(legs.quantity as numeric(38, 18)) as quantity,
    legs.counter_asset
from legs
left join {{ ref('stg_ops__accounts') }} as accounts
    on accounts.tenant_id = legs.tenant_id and accounts.account_id = legs.account_id
