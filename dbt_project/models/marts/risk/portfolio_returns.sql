-- Returns per portfolio, daily and hourly, of today's holdings (the positions mart) through the asset returns:
-- the same "what would these holdings have done" series the VaR is estimated on. USD stablecoins count as cash
-- (price 1); a period counts only when every other holding has a return in it (asset_returns carries a short
-- gap forward). Amounts numeric, returns double precision.
-- Indexes lead with tenant_id: a reader's query (a dashboard, psql) reads its tenant's rows, not every tenant's
-- (issue 17 §3, bench/bench_reads.py).
{{ config(indexes=[{'columns': ['tenant_id', 'frequency', 'period_start']}]) }}
with holdings as (
    select p.tenant_id, p.portfolio_id, coalesce(p.priced_as, p.asset) as asset, sum(p.quantity) as quantity
    from {{ ref('positions') }} as p
    where p.quantity <> 0
    group by p.tenant_id, p.portfolio_id, coalesce(p.priced_as, p.asset)
),

cash as (
    select h.tenant_id, h.portfolio_id, sum(h.quantity) as cash_usd
    from holdings as h
    join {{ ref('usd_pegged_assets') }} as pegs on pegs.asset = h.asset
    group by h.tenant_id, h.portfolio_id
),

risky as (
    select h.* from holdings as h
    where h.asset not in (select asset from {{ ref('usd_pegged_assets') }})
),

risky_count as (
    select tenant_id, portfolio_id, count(*) as n from risky group by tenant_id, portfolio_id
),

valued as (
    select
        r.tenant_id, r.portfolio_id, a.frequency, a.period_start,
        sum(r.quantity * a.close_usd) as risky_now,
        sum(r.quantity * a.previous_close_usd) as risky_before,
        count(*) as n_priced
    from risky as r
    join {{ ref('asset_returns') }} as a on a.asset = r.asset
    group by r.tenant_id, r.portfolio_id, a.frequency, a.period_start
)

select
    v.tenant_id,
    v.portfolio_id,
    v.frequency,
    v.period_start,
    cast(round(v.risky_now + coalesce(c.cash_usd, 0), 2) as numeric(38, 2)) as value_usd,
    cast(round(v.risky_now - v.risky_before, 2) as numeric(38, 2)) as pnl_usd,
    cast((v.risky_now - v.risky_before) / nullif(v.risky_before + coalesce(c.cash_usd, 0), 0) as double precision)
        as simple_return
from valued as v
join risky_count as n on n.tenant_id = v.tenant_id and n.portfolio_id = v.portfolio_id
left join cash as c on c.tenant_id = v.tenant_id and c.portfolio_id = v.portfolio_id
where v.n_priced = n.n
