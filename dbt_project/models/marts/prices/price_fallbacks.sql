-- Every reference price that did not come from the asset's preferred venue, or on which the venues disagreed:
-- what an auditor checks before trusting a valuation.
select tenant_id, asset, 'daily' as frequency, cast(price_date as timestamptz) as priced_at, close_usd as price_usd,
       source_venue, venues, median_usd, deviation, disputed, fallback
from {{ ref('int_prices_daily') }}
where fallback is not null or disputed

union all

select tenant_id, asset, 'minute', price_minute, price_usd, source_venue, venues, median_usd, deviation, disputed,
       fallback
from {{ ref('int_prices_minute') }}
where fallback is not null or disputed
