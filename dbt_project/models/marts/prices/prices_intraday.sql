-- Minute USD reference prices per asset (about the last day: the 1m sync keeps a window), with provenance as
-- in prices_daily.
select
    tenant_id,
    asset,
    price_minute,
    price_usd,
    source_venue,
    source_symbol,
    source_priority,
    venues,
    n_venues,
    median_usd,
    deviation,
    disputed,
    fallback
from {{ ref('int_prices_minute') }}
