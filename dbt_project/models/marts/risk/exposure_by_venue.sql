-- Where the value sits: exposure per tenant, portfolio and venue/custodian (exchange, chain, protocol), with
-- its share of the portfolio. Coins in another wallet of an exchange account (position_type venue_wallet) are
-- still with that exchange.
with held as (
    select *, case when position_type = 'venue_wallet' then venue else coalesce(protocol, venue) end as custodian
    from {{ ref('positions') }}
),

by_venue as (
    select tenant_id, portfolio_id, account_kind, custodian, sum(value_usd) as value_usd
    from held
    where value_usd is not null
    group by tenant_id, portfolio_id, account_kind, custodian
)

select
    b.*,
    case when sum(abs(b.value_usd)) over (partition by b.tenant_id, b.portfolio_id) > 0
         then abs(b.value_usd) / sum(abs(b.value_usd)) over (partition by b.tenant_id, b.portfolio_id) end as share
from by_venue as b
