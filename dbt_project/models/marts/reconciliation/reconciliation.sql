-- Reported (exchange snapshot or on-chain balance) vs ledger-computed balances, per account and asset, at the latest balance snapshot.
-- Per wallet the venue reports: the spot wallet (wallet null) and, where the venue reports them, its other wallets
-- (Binance Simple Earn flexible / locked positions, int_reported_balances.wallet), each at its own latest snapshot:
-- reported: the wallet's latest snapshot (an asset missing from it counts as 0);
-- computed: the ledger up to that snapshot's time — the spot legs for the spot wallet, the 'held' legs of moves to
--   and from the other wallet (counter_asset names it) for that wallet. A wallet the venue does not report
--   (Binance Funding) is not compared.
-- The wallets of an asset add up to one row; |difference| <= tolerance → 'ok', else 'break'.
with wallet_snapshots as (
    select tenant_id, account_id, wallet, max(observed_at) as reported_at
    from {{ ref('int_reported_balances') }}
    group by tenant_id, account_id, wallet
),

snapshots as (
    select tenant_id, account_id, max(reported_at) as reported_at
    from wallet_snapshots
    group by tenant_id, account_id
),

reported as (
    select b.tenant_id, b.account_id, b.wallet, b.asset, sum(b.total) as quantity
    from {{ ref('int_reported_balances') }} as b
    join wallet_snapshots as s
        on s.tenant_id = b.tenant_id and s.account_id = b.account_id and s.wallet is not distinct from b.wallet
       and b.observed_at = s.reported_at
    group by b.tenant_id, b.account_id, b.wallet, b.asset
),

computed as (
    select l.tenant_id, l.account_id, s.wallet, l.asset, sum(l.quantity) as quantity
    from {{ ref('int_ledger') }} as l
    join wallet_snapshots as s
        on s.tenant_id = l.tenant_id and s.account_id = l.account_id
       -- spot legs for the spot wallet; a move's 'held' leg for the other wallet it names, when that is reported
       and s.wallet is not distinct from (case when l.leg = 'held' then l.counter_asset end)
    where l.occurred_at <= s.reported_at
      and l.entry_type not in ('defi_receipt', 'spam')  -- what the chain's balance leaves out too
    group by l.tenant_id, l.account_id, s.wallet, l.asset
),

compared as (
    select
        coalesce(r.tenant_id, c.tenant_id) as tenant_id,
        coalesce(r.account_id, c.account_id) as account_id,
        coalesce(r.asset, c.asset) as asset,
        sum(coalesce(r.quantity, 0)) as reported_quantity,
        sum(coalesce(c.quantity, 0)) as computed_quantity
    from reported as r
    full outer join computed as c
        on c.tenant_id = r.tenant_id and c.account_id = r.account_id and c.wallet is not distinct from r.wallet
       and c.asset = r.asset
    group by 1, 2, 3
)

select
    cast(x.tenant_id as text) as tenant_id,
    cast(a.portfolio_id as text) as portfolio_id,
    cast(x.account_id as text) as account_id,
    cast(x.asset as text) as asset,
    cast(x.reported_quantity as numeric(38, 18)) as reported_quantity,
    cast(x.computed_quantity as numeric(38, 18)) as computed_quantity,
    cast(x.reported_quantity - x.computed_quantity as numeric(38, 18)) as difference,
    cast({{ var('reconciliation_tolerance') }} as numeric(38, 18)) as tolerance,
    cast(case when abs(x.reported_quantity - x.computed_quantity) <= {{ var('reconciliation_tolerance') }}
              then 'ok' else 'break' end as text) as status,
    cast(s.reported_at as timestamptz) as reported_at
from compared as x
join snapshots as s on s.tenant_id = x.tenant_id and s.account_id = x.account_id
left join {{ ref('stg_ops__accounts') }} as a on a.tenant_id = x.tenant_id and a.account_id = x.account_id
where not (x.reported_quantity = 0 and x.computed_quantity = 0)
