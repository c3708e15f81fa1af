-- Where the value sits: exposure per tenant, portfolio and venue/custodian (exchange, chain, protocol), with
-- its share of the portfolio.
with by_venue as (
    select tenant_id, portfolio_id, account_kind, coalesce(protocol, venue) as custodian,
           sum(value_usd) as value_usd
    from {{ ref('positions') }}
    where value_usd is not null
    group by tenant_id, portfolio_id, account_kind, coalesce(protocol, venue)
)

select
    b.*,
    case when sum(abs(b.value_usd)) over (partition by b.tenant_id, b.portfolio_id) > 0
         then abs(b.value_usd) / sum(abs(b.value_usd)) over (partition by b.tenant_id, b.portfolio_id) end as share
from by_venue as b
