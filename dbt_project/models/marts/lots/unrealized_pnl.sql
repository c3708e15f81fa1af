-- Unrealized gains per tenant, portfolio and asset now: open lots at the latest price. Lots of unknown
-- basis are counted apart (quantity_without_basis, value_without_basis).
select
    tenant_id,
    portfolio_id,
    asset,
    count(*) as open_lots,
    sum(quantity) as quantity,
    sum(cost) as cost,
    max(price_usd) as price_usd,
    max(price_source) as price_source,
    sum(market_value) filter (where basis_known) as market_value,
    sum(unrealized_gain) as unrealized_gain,
    coalesce(sum(quantity) filter (where not basis_known), 0) as quantity_without_basis,
    coalesce(sum(market_value) filter (where not basis_known), 0) as value_without_basis,
    count(*) filter (where price_usd is null) as lots_without_price
from {{ ref('open_lots') }}
group by tenant_id, portfolio_id, asset
