-- One row per account with its portfolio and tenant names.
select
    a.tenant_id,
    t.name as tenant_name,
    a.portfolio_id,
    p.name as portfolio_name,
    a.account_id,
    a.display_name as account_name,
    a.venue,
    a.kind,
    a.mode,
    a.enabled,
    a.history_start
from {{ source('ops', 'accounts') }} as a
join {{ source('ops', 'portfolios') }} as p on p.tenant_id = a.tenant_id and p.portfolio_id = a.portfolio_id
join {{ source('ops', 'tenants') }} as t on t.tenant_id = a.tenant_id
