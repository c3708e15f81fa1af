-- The unified ledger with each entry's treatment, what the lot engine and accountants read:
--   trade                       a buy or sell leg (a disposal and an acquisition for crypto-to-crypto trades)
--   fee                         trade, withdrawal and network fees
--   internal_transfer           one side of a matched move between the tenant's own accounts: not a disposal,
--                               the lots (and their cost basis) travel with the coins
--   defi_position               coins put into or taken out of a DeFi position of the tenant: not a disposal
--   venue_wallet                coins moved between the account's own wallets on one venue (spot ↔ funding,
--                               earn, futures): not a disposal, the lots stay with the account
--   external_inflow / _outflow  a deposit / withdrawal no internal transfer explains (see transfer_review)
--   income                      staking, rewards, airdrops: acquired at fair value on receipt
--   excluded                    protocol receipt tokens and spam: flagged, never valued
-- Indexes lead with tenant_id: a reader's query (a dashboard, psql) reads its tenant's rows, not every tenant's
-- (issue 17 §3, bench/bench_reads.py).
-- Built incrementally as int_ledger is (macros/incremental_ledger.sql): the records int_ledger booked again, and
-- those whose internal-transfer match changed.
{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='source_key',
          row_key='ledger_entry_id', on_schema_change='fail',
          indexes=[{'columns': ['tenant_id', 'treatment']}, {'columns': ['ledger_entry_id']}, {'columns': ['source_key']},
                   {'columns': ['raw_table', 'tenant_id', 'account_id']}, {'columns': ['ingested_at']},
                   {'columns': ['transfer_match_id']}, {'columns': ['occurred_at']}]) }}
{%- set scope = ledger_scope(this) if is_incremental() else none %}
with matched as (
    select out_entry_id as entry_id, match_id, in_account_id as counter_account_id
    from {{ source('derived', 'transfer_matches') }}
    union all
    select in_entry_id, match_id, out_account_id from {{ source('derived', 'transfer_matches') }}
){% if scope %},

-- the records whose match changed since the last build: matched otherwise, or no longer, or newly
rematched as (
    select l.source_key
    from {{ this }} as l
    left join matched as m on m.entry_id = l.ledger_entry_id
    where l.transfer_match_id is not null
      and (m.match_id is distinct from l.transfer_match_id or m.counter_account_id is distinct from l.counter_account_id)
    union
    select l.source_key
    from matched as m
    join {{ this }} as l on l.ledger_entry_id = m.entry_id
    where l.transfer_match_id is distinct from m.match_id
       or l.counter_account_id is distinct from m.counter_account_id
),

touched as (
    {{ ledger_touched_keys(scope, this) }}
    union all
    select source_key from rematched
),

-- the entries to book again
picked as (
    {{ ledger_entries_again(scope, ref('int_ledger'), 'select source_key from rematched') }}
)
{%- endif %}

select
    l.ledger_entry_id,
    l.tenant_id,
    l.portfolio_id,
    l.account_id,
    l.source,
    l.source_record_id,
    l.raw_table,
    l.record_hash,
    l.entry_type,
    l.leg,
    l.occurred_at,
    l.asset,
    l.quantity,
    l.counter_asset,
    l.txid,
    m.match_id as transfer_match_id,
    m.counter_account_id,
    cast(case
        when l.entry_type like 'trade\_%' and l.leg <> 'fee' then 'trade'
        when l.leg = 'fee' then 'fee'
        when l.entry_type in ('wallet_out', 'wallet_in') then 'venue_wallet'
        when m.match_id is not null then 'internal_transfer'
        when l.entry_type in ('defi_deposit', 'defi_withdrawal') then 'defi_position'
        when l.entry_type in ('defi_receipt', 'spam') then 'excluded'
        when l.entry_type = 'income' then 'income'
        when l.quantity > 0 then 'external_inflow'
        else 'external_outflow'
    end as text) as treatment,
    l.ingested_at,
    l.source_key,
    l.loaded_through
from {{ ref('int_ledger') }} as l
left join matched as m on m.entry_id = l.ledger_entry_id
{%- if scope %}
where l.ledger_entry_id in (select ledger_entry_id from picked)

union all

-- tombstones: every record booked again (strategy replace_keys)
select null, null, null, null, null, null, null, null, null, null, null, null, cast(null as numeric(38, 18)), null,
       null, null, null, null, cast(null as timestamptz), t.source_key, cast(null as timestamptz)
from touched as t
{%- endif %}
