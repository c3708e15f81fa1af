-- The unified ledger: one signed movement per leg, per tenant, account and asset.
--   buy   → +quantity of base, −cost of quote        (entry_type trade_buy)
--   sell  → −quantity of base, +cost of quote        (entry_type trade_sell)
--   fee   → −fee in the fee asset                    (entry_type trade_fee)
--   deposit (status ok)                 → +amount     (entry_type deposit)
--   withdrawal (not failed / canceled)  → −amount, and −fee in the fee asset (withdrawal, withdrawal_fee)
-- Deposits that are pending, failed or canceled move nothing yet.
--   wallet_out / wallet_in (status ok): a move between the account's own wallets on the venue, seen from the
--     spot wallet whose balance Coinbook reads: −amount / +amount (leg 'amount'), and the opposite on leg
--     'held', the coins now in the other wallet (counter_asset names it: 'binance:funding'), unless the venue
--     reports that wallet's balance too (Kraken's staked codes, XBT.S: its own entry books it). The account holds
--     the same total; the reconciliation compares the read wallets only; nothing is disposed of (ledger:
--     treatment venue_wallet).
-- income listed with a venue's transfers (status ok) → +amount (entry_type income); a `fill` listed there → nothing
-- (the trades path books it). An imported file's income that the API delivered too counts once (the API's).
-- Wallets (stg_chains__*): Bitcoin 'in' → deposit, 'out' → withdrawal, its fee → network_fee ('self', a
-- consolidation, is the fee alone); EVM value/token movements → deposit / withdrawal, to or from a DeFi
-- contract → defi_deposit / defi_withdrawal (not a disposal: the coins now sit in a position of the same
-- tenant, valued from the DeFi snapshot), gas → network_fee, protocol receipt tokens → defi_receipt and
-- unlisted tokens → spam (both kept, flagged, and left out of holdings and values).
--
-- A table built incrementally (macros/incremental_ledger.sql): a run books again the API trades ingested since its
-- last build and every other record of the accounts with anything new, not the whole history. Every reader (the
-- ledger mart, transfer matching, positions, reconciliation, the tests) reads the table: as a view each of them
-- evaluated the whole ledger again (at 1M trades ~10 s each, ~150 s a run).
{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='source_key',
          row_key='ledger_entry_id', on_schema_change='fail',
          indexes=[{'columns': ['ledger_entry_id']}, {'columns': ['source_key']},
                   {'columns': ['raw_table', 'tenant_id', 'account_id']}, {'columns': ['ingested_at']}],
          meta={'coinbook': {'incremental_context': [
              'select tenant_id, account_id, portfolio_id from ops.accounts',
              'select tenant_id, raw_table, account_id, source, passed_through from ops.gate_partitions where held']}}) }}
{%- for venue in var('exchange_venues') %}
-- depends_on: {{ ref('stg_' ~ venue ~ '__trades') }} {{ ref('stg_' ~ venue ~ '__transfers') }}
{%- endfor %}
{%- set scope = ledger_scope(this) if is_incremental() else none %}

with trades as (
    {%- if scope %}
    -- API trades: those ingested since the last build; trades from files: those of the accounts with anything new
    select * from ({{ union_venues('trades') }}) as api where ingested_at >= '{{ scope.since }}'::timestamptz
    {%- if scope.file_accounts %}
    union all
    select * from {{ ref('int_exchange_trades') }}
    where source like 'csv:%' and {{ in_scope_accounts(scope, key='file_accounts') }}
    {%- endif %}
    {%- else %}
    select * from {{ ref('int_exchange_trades') }}
    {%- endif %}
),

transfers as (
    {%- if scope and not scope.file_accounts %}
    -- no imported file among the accounts with news: the API's transfers are all there is (the filter reaches each
    -- venue's staging, the accounts' rows only; int_exchange_transfers ranks every venue's first)
    select * from ({{ union_venues('transfers') }}) as api where {{ in_scope_accounts(scope) }}
    {%- else %}
    select * from {{ ref('int_exchange_transfers') }}
    {%- if scope %} where {{ in_scope_accounts(scope) }}{% endif %}
    {%- endif %}
),

btc_transactions as (
    select * from {{ ref('stg_chains__btc_transactions') }}
    {%- if scope %} where {{ in_scope_accounts(scope) }}{% endif %}
),

evm_transfers as (
    select * from {{ ref('stg_chains__evm_transfers') }}
    {%- if scope %} where {{ in_scope_accounts(scope) }}{% endif %}
),

file_records as (
    select * from {{ ref('stg_files__other') }}
    {%- if scope %} where {{ in_scope_accounts(scope) }}{% endif %}
),

legs as (
    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('trades') }} as raw_table,
           'trade_' || side as entry_type, 'base' as leg, occurred_at, base_asset as asset,
           case when side = 'buy' then quantity else -quantity end as quantity, quote_asset as counter_asset,
           cast(null as text) as txid, ingested_at
    from trades

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('trades') }},
           'trade_' || side, 'quote', occurred_at, quote_asset,
           case when side = 'buy' then -cost else cost end, base_asset, cast(null as text), ingested_at
    from trades

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('trades') }},
           'trade_fee', 'fee', occurred_at, fee_asset, -fee_amount, null, cast(null as text), ingested_at
    from trades
    where fee_amount <> 0

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('transfers') }},
           transfer_type, 'amount', occurred_at, asset,
           case when transfer_type = 'deposit' then amount else -amount end, null, txid, ingested_at
    from transfers
    where (transfer_type = 'deposit' and status = 'ok')
       or (transfer_type = 'withdrawal' and status not in ('failed', 'canceled'))

    union all

    -- a reward a venue lists with its transfers (Coinbase v2 staking_reward, interest, …); a `fill` listed
    -- there is booked from the trades path only
    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('transfers') }},
           'income', 'amount', occurred_at, asset, amount, null, txid, ingested_at
    from transfers
    where transfer_type = 'income' and status = 'ok'

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('transfers') }},
           'withdrawal_fee', 'fee', occurred_at, fee_asset, -fee_amount, null, txid, ingested_at
    from transfers
    where transfer_type = 'withdrawal' and status not in ('failed', 'canceled') and fee_amount <> 0

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('transfers') }},
           transfer_type, 'amount', occurred_at, asset,
           case when transfer_type = 'wallet_in' then amount else -amount end, address, txid, ingested_at
    from transfers
    where transfer_type in ('wallet_out', 'wallet_in') and status = 'ok'

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table_of('transfers') }},
           transfer_type, 'held', occurred_at, asset,
           case when transfer_type = 'wallet_in' then -amount else amount end, address, txid, ingested_at
    from transfers as t
    where transfer_type in ('wallet_out', 'wallet_in') and status = 'ok'
      -- not when the other wallet is read too (Kraken's staked codes: its own entry, same refid, books that side)
      and not exists (
          select 1 from transfers as o
          where o.tenant_id = t.tenant_id and o.account_id = t.account_id and o.txid = t.txid
            and o.transfer_type in ('wallet_out', 'wallet_in') and o.transfer_id <> t.transfer_id)

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table('btc', 'transactions') }},
           case when direction = 'in' then 'deposit' else 'withdrawal' end, 'amount', occurred_at, 'BTC',
           case when direction = 'in' then amount else -amount end, null, txid, ingested_at
    from btc_transactions
    where direction in ('in', 'out') and amount <> 0

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table('btc', 'transactions') }},
           'network_fee', 'fee', occurred_at, 'BTC', -fee_amount, null, txid, ingested_at
    from btc_transactions
    where fee_amount <> 0

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table('evm', 'transfers') }},
           case movement_class
               when 'fee' then 'network_fee'
               when 'spam' then 'spam'
               when 'receipt' then 'defi_receipt'
               when 'protocol' then case when direction = 'out' then 'defi_deposit' else 'defi_withdrawal' end
               else case when direction = 'out' then 'withdrawal' else 'deposit' end
           end,
           case when movement_class = 'fee' then 'fee' else 'amount' end, occurred_at, asset,
           case when direction = 'out' then -amount else amount end, null, txid, ingested_at
    from evm_transfers
    where direction in ('in', 'out') and amount <> 0

    union all

    select tenant_id, account_id, source, source_record_id, record_hash, {{ raw_table('file', 'records') }},
           case when record_type = 'income' then 'income' else 'network_fee' end,
           case when record_type = 'income' then 'amount' else 'fee' end, occurred_at, asset,
           case when record_type = 'income' then amount else -amount end, null, txid, ingested_at
    from file_records as f
    where amount <> 0
      -- a reward the venue's API delivered too (Coinbase v2 staking_reward and the same line of the transaction
      -- history CSV) is booked once, from the API: same account, asset and amount, within the same minute
      and not (record_type = 'income' and exists (
          select 1 from transfers as a
          where a.tenant_id = f.tenant_id and a.account_id = f.account_id and a.transfer_type = 'income'
            and a.status = 'ok' and a.source not like 'csv:%' and a.asset = f.asset and a.amount = f.amount
            and date_trunc('minute', a.occurred_at) = date_trunc('minute', f.occurred_at)))
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
    legs.counter_asset,
    legs.txid,
    -- when Coinbook took the row (the version booked, for a transfer): the incremental build's watermark
    legs.ingested_at,
    -- the record the entry is booked from (all its legs share it): what an incremental build replaces
    {{ ledger_source_key('legs.raw_table', 'legs.tenant_id', 'legs.account_id', 'legs.source', 'legs.source_record_id') }}
        as source_key,
    -- every raw row ingested before this was committed when the entry was booked: the next incremental build
    -- takes the rows ingested from here on (macros/incremental_ledger.sql)
    {{ ledger_loaded_through() }} as loaded_through
from legs
left join {{ ref('stg_ops__accounts') }} as accounts
    on accounts.tenant_id = legs.tenant_id and accounts.account_id = legs.account_id
{%- if scope %}

union all

-- tombstones: every record booked again, whether or not it books anything now (strategy replace_keys)
select null, null, null, null, null, null, null, null, null, null, null, null, cast(null as numeric(38, 18)),
       null, null, cast(null as timestamptz), k.source_key, cast(null as timestamptz)
from ({{ ledger_touched_keys(scope, this) }}) as k(source_key)
{%- endif %}
