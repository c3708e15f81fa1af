-- Consolidated positions: what each account holds according to its ledger, valued at the latest USD price.
-- as_of is the later of the last movement and the price time: the moment this figure describes.
with holdings as (
    select
        tenant_id,
        portfolio_id,
        account_id,
        asset,
        sum(quantity) as quantity,
        max(occurred_at) as last_movement_at
    from {{ ref('int_ledger') }}
    group by tenant_id, portfolio_id, account_id, asset
)

select
    cast(h.tenant_id as text) as tenant_id,
    cast(h.portfolio_id as text) as portfolio_id,
    cast(h.account_id as text) as account_id,
    cast(a.venue as text) as venue,
    cast(h.asset as text) as asset,
    cast(h.quantity as numeric(38, 18)) as quantity,
    cast(p.price_usd as numeric(38, 18)) as price_usd,
    cast(round(h.quantity * p.price_usd, 8) as numeric(38, 18)) as value_usd,
    cast(p.price_source as text) as price_source,
    cast(p.priced_at as timestamptz) as priced_at,
    cast(h.last_movement_at as timestamptz) as last_movement_at,
    cast(greatest(h.last_movement_at, p.priced_at) as timestamptz) as as_of
from holdings as h
left join {{ ref('int_prices_latest') }} as p on p.asset = h.asset
left join {{ ref('stg_ops__accounts') }} as a on a.tenant_id = h.tenant_id and a.account_id = h.account_id
where h.quantity <> 0
