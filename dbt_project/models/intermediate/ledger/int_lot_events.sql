-- What the lot engine reads (the tax_lots asset, pipelines/defs/lots): each ledger entry's effect on tax lots, valued in USD,
-- with where the value came from. One event per ledger entry (event_id = ledger_entry_id); cash (fiat, and USD
-- stablecoins unless the tenant treats them as property) has no lots.
--   trade buy    acquire the base at the trade's value + its fee (fees go into the basis)
--   trade sell   dispose of the base at the trade's value − its fee (fees reduce the proceeds)
--                the quote, when it is not cash: the other side (disposed of on a buy, acquired on a sell)
--   trade fee    paid in a coin (not cash): a disposal of that coin at its fair value; a negative fee (a maker
--                rebate) lowers the basis / raises the proceeds instead, and a rebate in a coin is acquired
--   internal transfer  transfer_out (amount + the fee legs of the same record) / transfer_in: the lots move
--   external outflow   withdraw: the lots leave at cost, nothing realised (transfer_review asks what it was)
--   external inflow    acquire at the basis the accountant gave (ops.cost_basis), else of unknown basis
--   income             acquire at fair value on receipt
--   other fees         dispose at fair value (network fees of transactions that move nothing else)
-- A trade's value: the quote amount when the quote is USD or a USD stablecoin, else quote × its daily close,
-- else base × its daily close. Daily closes: int_prices_daily, the latest at most 7 days before.
-- Values are rounded to cents (the unit the reports use); quantities are kept exact.
-- A table (intermediate models are views): the lot engine reads it twice per run, by tenant and asset.
-- Built incrementally as the ledger is (macros/incremental_ledger.sql): the records the ledger booked again, those
-- whose internal-transfer match changed, and those a changed daily close can reach (a close of day D values the
-- events of D to D + 7: every event from the earliest changed close on). The lot settings and the cost basis the
-- accountants enter are its context: when they change it is built whole.
{{ config(materialized='incremental', incremental_strategy='replace_keys', unique_key='source_key', row_key='event_id',
          on_schema_change='fail',
          indexes=[{'columns': ['tenant_id', 'asset']}, {'columns': ['source_key']}, {'columns': ['event_id']},
                   {'columns': ['raw_table', 'tenant_id', 'account_id']}, {'columns': ['transfer_id']}],
          meta={'coinbook': {'incremental_context': [
              'select tenant_id, book_scope, stablecoins_as_cash from staging.stg_ops__lot_settings',
              'select tenant_id, entry_id, cost, acquired_at from ops.cost_basis',
              'select tenant_id, account_id, portfolio_id from ops.accounts',
              'select tenant_id, raw_table, account_id, source, passed_through from ops.gate_partitions where held']}}) }}
{%- set scope = ledger_scope(this) if is_incremental() else none %}

with settings as (
    select * from {{ ref('stg_ops__lot_settings') }}
),
{%- if scope %}

{%- set rematched_query -%}
    select l.source_key
    from {{ ref('ledger') }} as l
    where l.transfer_match_id is not null
      and not exists (select 1 from {{ this }} as e
                      where e.event_id = l.ledger_entry_id and e.transfer_id = l.transfer_match_id)
    union
    select e.source_key
    from {{ this }} as e
    where e.transfer_id is not null
      and not exists (select 1 from {{ ref('ledger') }} as l
                      where l.ledger_entry_id = e.event_id and l.transfer_match_id = e.transfer_id)
{%- endset %}
{%- set reprice_query -%}
    select min(p.price_date)::text from {{ ref('int_prices_daily') }} as p
    where p.changed_at > (select max(priced_at) from {{ this }})
{%- endset %}
{#- run before the build and put in as literals: the planner then knows how few they are (as subqueries it took
    them for a third of the ledger and read all of it: 2.5 s of 5.8 at 1M trades) #}
{%- set rematched_keys = run_query(rematched_query).columns[0].values() | list %}
{%- set reprice_from = run_query(reprice_query).columns[0].values()[0] %}

-- the records whose internal-transfer match changed since the last build (an event carries its match):
-- {{ rematched_keys | length }}
rematched as (
    {%- if rematched_keys %}
    select unnest(array[{% for k in rematched_keys %}'{{ k }}'{% if not loop.last %}, {% endif %}{% endfor %}]::text[])
        as source_key
    {%- else %}
    select null::text as source_key where false
    {%- endif %}
),

-- the records a daily close changed since the last build can value differently: every event from the earliest
-- changed close's day ({{ reprice_from or 'none changed' }})
repriced as (
    select l.source_key
    from {{ ref('ledger') }} as l
    where {% if reprice_from %}l.occurred_at >= '{{ reprice_from }}'::date{% else %}false{% endif %}
),
{%- endif %}

ledger as (
    select l.*, s.book_scope, s.stablecoins_as_cash
    from {{ ref('ledger') }} as l
    join settings as s on s.tenant_id = l.tenant_id
    {%- if scope %}
    where l.ledger_entry_id in (
        {{ ledger_entries_again(scope, ref('ledger'),
                                'select source_key from rematched union all select source_key from repriced') }})
    {%- endif %}
),

pegs as (
    select asset from {{ ref('usd_pegged_assets') }}
),

fiat as (
    select asset from {{ ref('fiat_currencies') }}
),

-- which assets are cash for which tenant (no lots)
cash as (
    select s.tenant_id, f.asset from settings as s cross join fiat as f
    union
    select s.tenant_id, p.asset from settings as s cross join pegs as p where s.stablecoins_as_cash
),

-- a USD value per unit at a time: 1 for USD and its stablecoins, else the latest daily close within 7 days
trades as (
    select
        tenant_id, portfolio_id, account_id, raw_table, source, source_record_id, book_scope,
        min(occurred_at) as occurred_at,
        max(case when leg = 'base' then entry_type end) as side,
        max(case when leg = 'base' then ledger_entry_id end) as base_id,
        max(case when leg = 'base' then asset end) as base_asset,
        max(case when leg = 'base' then abs(quantity) end) as base_qty,
        max(case when leg = 'quote' then ledger_entry_id end) as quote_id,
        max(case when leg = 'quote' then asset end) as quote_asset,
        max(case when leg = 'quote' then abs(quantity) end) as quote_qty,
        max(case when leg = 'fee' then ledger_entry_id end) as fee_id,
        max(case when leg = 'fee' then asset end) as fee_asset,
        -- signed: > 0 a fee paid, < 0 a rebate received (the ledger's fee leg is −fee_amount)
        max(case when leg = 'fee' then -quantity end) as fee_qty,
        max(source_key) as source_key,
        max(loaded_through) as loaded_through
    from ledger
    where entry_type in ('trade_buy', 'trade_sell', 'trade_fee')
    group by tenant_id, portfolio_id, account_id, raw_table, source, source_record_id, book_scope
),

trade_prices as (
    select
        t.*,
        case when t.quote_asset in (select asset from pegs) then 1 else qp.close_usd end as quote_usd,
        case when t.base_asset in (select asset from pegs) then 1 else bp.close_usd end as base_usd,
        case when t.fee_asset in (select asset from pegs) then 1 else fp.close_usd end as fee_usd,
        qp.venues as quote_venues,
        bp.venues as base_venues
    from trades as t
    left join lateral {{ daily_close('t.quote_asset', 't.occurred_at') }} as qp on true
    left join lateral {{ daily_close('t.base_asset', 't.occurred_at') }} as bp on true
    left join lateral {{ daily_close('t.fee_asset', 't.occurred_at') }} as fp on true
),

trade_values as (
    select
        t.*,
        case
            when t.quote_asset in (select asset from pegs) then t.quote_qty
            when t.quote_usd is not null then t.quote_qty * t.quote_usd
            when t.base_usd is not null then t.base_qty * t.base_usd
        end as trade_usd,
        case
            when t.quote_asset in (select asset from pegs) then 'quote ' || t.quote_asset
            when t.quote_usd is not null then 'quote × ' || t.quote_asset || ' daily close (' || t.quote_venues || ')'
            when t.base_usd is not null then 'base × ' || t.base_asset || ' daily close (' || t.base_venues || ')'
        end as valuation
    from trade_prices as t
),

trade_fees as (
    select
        t.*,
        case
            when t.fee_id is null then 0
            when t.fee_asset in (select asset from pegs) then t.fee_qty
            when t.fee_asset = t.quote_asset and t.quote_qty > 0 then t.fee_qty * t.trade_usd / t.quote_qty
            when t.fee_asset = t.base_asset and t.base_qty > 0 then t.fee_qty * t.trade_usd / t.base_qty
            else t.fee_qty * t.fee_usd
        end as fee_usd_value
    from trade_values as t
),

trade_events as (
    -- the base leg
    select tenant_id, portfolio_id, account_id, book_scope, base_id as event_id, base_asset as asset, occurred_at,
           case when side = 'trade_buy' then 'acquire' else 'dispose' end as kind, base_qty as quantity,
           case when side = 'trade_buy' then trade_usd + fee_usd_value else trade_usd - fee_usd_value end
               as value_usd,
           valuation || case when fee_id is not null then ', fee ' || fee_asset else '' end as valuation,
           cast(null as text) as transfer_id, 'trade' as source, quote_asset as counter_asset, raw_table, source_key,
           loaded_through
    from trade_fees

    union all

    -- the quote leg (ignored below when the quote is cash)
    select tenant_id, portfolio_id, account_id, book_scope, quote_id, quote_asset, occurred_at,
           case when side = 'trade_buy' then 'dispose' else 'acquire' end, quote_qty, trade_usd, valuation,
           null, 'trade', base_asset, raw_table, source_key, loaded_through
    from trade_fees

    union all

    -- a fee paid in a coin: that coin is disposed of at its fair value (which went into the basis/proceeds); a
    -- rebate received in a coin is acquired at its fair value (which came off the basis/proceeds)
    select tenant_id, portfolio_id, account_id, book_scope, fee_id, fee_asset, occurred_at,
           case when fee_qty > 0 then 'dispose' else 'acquire' end, abs(fee_qty), abs(fee_usd_value),
           case when fee_qty > 0 then 'fee' else 'rebate' end || ' at ' || coalesce(valuation, 'no price'), null,
           'fee', base_asset, raw_table, source_key, loaded_through
    from trade_fees
    where fee_id is not null and fee_qty <> 0
),

-- a withdrawal's own fee legs in the same coin travel with it (internal: into the lots' basis; external: out)
record_fees as (
    select tenant_id, account_id, raw_table, source, source_record_id, asset, sum(abs(quantity)) as fee
    from ledger
    where leg = 'fee' and entry_type in ('withdrawal_fee', 'network_fee')
    group by tenant_id, account_id, raw_table, source, source_record_id, asset
),

moves as (
    select l.*, abs(l.quantity) + case when l.quantity < 0 then coalesce(f.fee, 0) else 0 end as moved_quantity,
           l.quantity < 0 and f.fee is not null as carries_fee
    from ledger as l
    left join record_fees as f
        on f.tenant_id = l.tenant_id and f.account_id = l.account_id and f.raw_table = l.raw_table
       and f.source = l.source and f.source_record_id = l.source_record_id and f.asset = l.asset
    where l.leg = 'amount' and l.treatment in ('internal_transfer', 'external_outflow', 'external_inflow', 'income')
),

-- the fee legs no outflow of the same record carries: fees on their own (disposals at fair value)
lone_fees as (
    select f.*
    from ledger as f
    where f.leg = 'fee' and f.entry_type in ('withdrawal_fee', 'network_fee')
      and not exists (
          select 1 from moves as m
          where m.carries_fee and m.tenant_id = f.tenant_id and m.account_id = f.account_id
            and m.raw_table = f.raw_table and m.source = f.source and m.source_record_id = f.source_record_id
            and m.asset = f.asset)
),

day_prices as (
    select
        l.*,
        case when al.priced_as in (select asset from pegs) then 1 else p.close_usd end as unit_usd,
        case when al.priced_as in (select asset from pegs) then l.asset || ' at 1 USD'
             when p.close_usd is not null then l.asset || ' daily close ' || p.price_date || ' (' || p.venues || ')'
        end as price_note
    from (
        select tenant_id, portfolio_id, account_id, book_scope, ledger_entry_id, asset, occurred_at, quantity,
               treatment, transfer_match_id, moved_quantity, raw_table, source_key, loaded_through
        from moves
        union all
        select tenant_id, portfolio_id, account_id, book_scope, ledger_entry_id, asset, occurred_at, quantity,
               treatment, null, abs(quantity), raw_table, source_key, loaded_through
        from lone_fees
    ) as l
    -- a staked or earning code (Kraken DOT.S, USDC.M) is valued as its coin (macro staked_coin)
    left join lateral (select {{ staked_coin('l.asset') }} as priced_as) as al on true
    left join lateral {{ daily_close('al.priced_as', 'l.occurred_at') }} as p on true
),

other_events as (
    select
        d.tenant_id, d.portfolio_id, d.account_id, d.book_scope, d.ledger_entry_id as event_id, d.asset,
        d.occurred_at,
        case
            when d.treatment = 'internal_transfer' and d.quantity < 0 then 'transfer_out'
            when d.treatment = 'internal_transfer' then 'transfer_in'
            when d.treatment = 'external_outflow' then 'withdraw'
            when d.treatment = 'fee' then 'dispose'
            else 'acquire'
        end as kind,
        d.moved_quantity as quantity,
        case
            when d.treatment = 'external_inflow' then b.cost
            when d.treatment in ('income', 'fee', 'external_outflow') then d.moved_quantity * d.unit_usd
        end as value_usd,
        case
            when d.treatment = 'external_inflow' and b.cost is not null then 'ops.cost_basis'
            when d.treatment = 'external_inflow' then 'unknown basis: deposit from outside, no ops.cost_basis row'
            when d.treatment in ('income', 'fee', 'external_outflow') then coalesce(d.price_note, 'no price')
            else 'lots carried'
        end as valuation,
        d.transfer_match_id as transfer_id,
        case d.treatment when 'fee' then 'fee' else d.treatment end as source,
        cast(null as text) as counter_asset,
        b.acquired_at as basis_acquired_at,
        d.raw_table,
        d.source_key,
        d.loaded_through
    from day_prices as d
    left join {{ source('ops', 'cost_basis') }} as b
        on b.tenant_id = d.tenant_id and b.entry_id = d.ledger_entry_id
),

events as (
    select tenant_id, portfolio_id, account_id, book_scope, event_id, asset, occurred_at, kind, quantity,
           value_usd, valuation, transfer_id, source, counter_asset, cast(null as timestamptz) as basis_acquired_at,
           raw_table, source_key, loaded_through
    from trade_events
    union all
    select * from other_events
)

select
    e.tenant_id,
    e.event_id,
    e.portfolio_id,
    e.account_id,
    cast(case when e.book_scope = 'universal' then '*' else e.account_id end as text) as book,
    e.asset,
    e.occurred_at,
    cast(e.kind as text) as kind,
    cast(e.quantity as numeric(38, 18)) as quantity,
    cast(round(e.value_usd, 2) as numeric(38, 2)) as value_usd,
    -- an acquisition whose cost nobody knows: the engine books it at 0 so that it keeps its place in the
    -- method's order, and everything taken from it is reported as missing basis, never as zero cost
    e.kind = 'acquire' and e.value_usd is null as basis_unknown,
    e.kind = 'dispose' and e.value_usd is null as proceeds_unknown,
    cast(e.valuation as text) as valuation,
    e.transfer_id,
    cast(e.source as text) as source,
    e.counter_asset,
    e.basis_acquired_at,
    -- the ledger record the event is booked from, and the ledger's watermark (macros/incremental_ledger.sql)
    e.raw_table,
    e.source_key,
    e.loaded_through,
    -- when its value was taken (this build): a daily close changed after it reaches it again
    now() as priced_at
from events as e
where e.quantity > 0
  and e.asset is not null
  and not exists (select 1 from cash as c where c.tenant_id = e.tenant_id and c.asset = e.asset)
{%- if scope %}

union all

-- tombstones: every record valued again (strategy replace_keys)
select null, null, null, null, null, null, null, null, cast(null as numeric(38, 18)), cast(null as numeric(38, 2)),
       null, null, null, null, null, null, null, null, t.source_key, null, null
from ({{ ledger_touched_keys(scope, this) }}
      union all select source_key from rematched
      union all select source_key from repriced) as t
{%- endif %}
