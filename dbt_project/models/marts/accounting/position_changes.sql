-- What each exchange and wallet account held at the end of every UTC day it moved: the net change of the day and
-- the closing quantity, with the day the next movement came (valid_until). One row per day with movement, not
-- per calendar day: position_history spreads them over the days between. The ledger as positions reads it
-- (protocol receipt tokens and spam left out); DeFi positions are snapshots, not movements, and are not here.
-- Indexes lead with tenant_id: a reader's query (a dashboard, psql) reads its tenant's rows, not every tenant's
-- (issue 17 §3, bench/bench_reads.py).
{{ config(materialized="table", indexes=[{"columns": ["tenant_id", "day"]}, {"columns": ["day"]}]) }}
with daily as (
    select
        tenant_id,
        portfolio_id,
        account_id,
        asset,
        cast(occurred_at at time zone 'UTC' as date) as day,
        sum(quantity) as net_change,
        count(*) as entries
    from {{ ref('ledger') }}
    where entry_type not in ('defi_receipt', 'spam')
    group by tenant_id, portfolio_id, account_id, asset, cast(occurred_at at time zone 'UTC' as date)
)

select
    cast(tenant_id as text) as tenant_id,
    cast(portfolio_id as text) as portfolio_id,
    cast(account_id as text) as account_id,
    cast(asset as text) as asset,
    day,
    cast(net_change as numeric(38, 18)) as net_change,
    cast(sum(net_change) over w as numeric(38, 18)) as quantity,
    cast(entries as integer) as entries,
    lead(day) over w as valid_until
from daily
window w as (partition by tenant_id, account_id, asset order by day)
