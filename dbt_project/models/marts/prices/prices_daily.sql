-- Daily USD reference closes per asset with their provenance: the venue and market the close came from, the
-- venues that quoted, their median, the chosen close's deviation from it, and why better-ranked venues were
-- passed over (missing that day, or an outlier). See macros/reference_price.sql.
select
    tenant_id,
    asset,
    price_date,
    close_usd,
    source_venue,
    source_symbol,
    source_priority,
    venues,
    n_venues,
    median_usd,
    deviation,
    disputed,
    fallback
from {{ ref('int_prices_daily') }}
