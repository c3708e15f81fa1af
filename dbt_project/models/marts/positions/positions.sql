-- Consolidated positions across exchanges, wallets and DeFi, valued at the latest USD price.
--   exchange and wallet accounts: what the ledger holds (protocol receipt tokens and spam left out); coins the
--     account moved to another of its wallets on the venue (funding, earn, futures) are a row of their own,
--     protocol = that wallet ('binance:funding'), position_type 'venue_wallet': held, not gone
--   DeFi accounts: the latest snapshot read from the contracts (supplied +, borrowed −, pool shares, staked)
-- as_of is the later of the last movement (or snapshot) and the price time: the moment this figure describes.
with ledger_legs as (
    select l.*, case when l.leg = 'held' then l.counter_asset end as other_wallet
    from {{ ref('int_ledger') }} as l
    where l.entry_type not in ('defi_receipt', 'spam')
),

ledger_holdings as (
    select
        tenant_id,
        portfolio_id,
        account_id,
        asset,
        other_wallet as protocol,
        case when other_wallet is not null then 'venue_wallet' end as position_type,
        sum(quantity) as quantity,
        cast(null as numeric) as health_factor,
        max(occurred_at) as last_movement_at
    from ledger_legs
    group by tenant_id, portfolio_id, account_id, asset, other_wallet
),

defi_holdings as (
    select
        d.tenant_id,
        a.portfolio_id,
        d.account_id,
        d.asset,
        d.protocol,
        d.position_type,
        sum(d.quantity) as quantity,
        min(d.health_factor) as health_factor,
        max(d.observed_at) as last_movement_at
    from {{ ref('stg_defi__positions') }} as d
    join {{ ref('stg_ops__accounts') }} as a on a.tenant_id = d.tenant_id and a.account_id = d.account_id
    where a.kind = 'defi'
    group by d.tenant_id, a.portfolio_id, d.account_id, d.asset, d.protocol, d.position_type
),

holdings as (
    select * from ledger_holdings
    union all
    select * from defi_holdings
)

select
    cast(h.tenant_id as text) as tenant_id,
    cast(h.portfolio_id as text) as portfolio_id,
    cast(h.account_id as text) as account_id,
    cast(a.kind as text) as account_kind,
    cast(a.venue as text) as venue,
    cast(h.asset as text) as asset,
    cast(h.protocol as text) as protocol,
    cast(h.position_type as text) as position_type,
    cast(h.quantity as numeric(38, 18)) as quantity,
    cast(p.price_usd as numeric(38, 18)) as price_usd,
    cast(round(h.quantity * p.price_usd, 8) as numeric(38, 18)) as value_usd,
    cast(p.price_source as text) as price_source,
    cast(alias.priced_as as text) as priced_as,
    cast(p.priced_at as timestamptz) as priced_at,
    cast(h.health_factor as numeric(38, 18)) as health_factor,
    cast(h.last_movement_at as timestamptz) as last_movement_at,
    cast(greatest(h.last_movement_at, p.priced_at) as timestamptz) as as_of
from holdings as h
left join {{ ref('int_price_aliases') }} as alias on alias.asset = h.asset
left join {{ ref('int_prices_latest') }} as p on p.asset = coalesce(alias.priced_as, h.asset)
left join {{ ref('stg_ops__accounts') }} as a on a.tenant_id = h.tenant_id and a.account_id = h.account_id
where h.quantity <> 0
