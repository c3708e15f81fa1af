-- The latest USD price per asset, and where it came from. In order of preference:
--   usd_peg        the asset is a USD stablecoin (valued at 1)
--   ticker         the latest tickers of <asset>/<USD or USD stablecoin>, one venue chosen by source priority
--                  (macro reference_price): a venue whose latest ticker lags the asset's freshest quote by more
--                  than var price_stale_minutes is stale, one more than price_outlier_threshold off the median
--                  of the others is an outlier; either way the next venue is taken, and `fallback` says why
--   ohlcv_1m       the latest reference minute close (int_prices_minute)
--   ohlcv_1d       the latest reference daily close (int_prices_daily)
--   cross_btc      latest ticker of <asset>/BTC × BTC's USD price
with pegs as (
    select asset from {{ ref('usd_pegged_assets') }}
),

-- stamped_by: 'venue' when the venue dated the ticker, 'fetch' when it gives no time (Kraken, Bitfinex) and the
-- sync stamped it with the fetch time (normalise_ticker: such a ticker is identified by its quote, '@q:').
-- Only a venue's own time can show a quote is old: staleness is judged among venue-stamped quotes.
latest_tickers as (
    select distinct on (source, symbol) source, symbol, base_asset, quote_asset, last_price, observed_at,
           case when source_record_id like '%@q:%' then 'fetch' else 'venue' end as stamped_by
    from {{ ref('int_exchange_tickers') }}
    where last_price > 0
    order by source, symbol, observed_at desc
),

usd_quotes as (
    select distinct on (t.base_asset, t.source)
        t.base_asset as asset, t.source, t.symbol, t.last_price as price_usd, t.observed_at, t.stamped_by
    from latest_tickers as t
    join pegs on pegs.asset = t.quote_asset
    where t.base_asset <> t.quote_asset
    order by t.base_asset, t.source, t.observed_at desc, (t.quote_asset = 'USD') desc, t.quote_asset
),

ticker_candidates as (
    select
        q.asset,
        'latest' as price_bucket,
        q.source,
        q.symbol,
        q.price_usd,
        q.observed_at,
        q.stamped_by,
        case when q.stamped_by = 'venue'
                  and q.observed_at < f.freshest - interval '{{ var("price_stale_minutes") }} minutes'
             then 'stale since ' || to_char(q.observed_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
        end as excluded_reason
    from usd_quotes as q
    join (select asset, coalesce(max(observed_at) filter (where stamped_by = 'venue'), max(observed_at)) as freshest
          from usd_quotes group by asset) as f on f.asset = q.asset
),

ticker_reference as (
    {{ reference_price('ticker_candidates', 'price_bucket', var('price_outlier_threshold')) | indent(4) }}
),

latest_minute as (
    select distinct on (asset) asset, price_usd, price_minute + interval '1 minute' as priced_at, source_venue,
           venues, fallback
    from {{ ref('int_prices_minute') }}
    order by asset, price_minute desc
),

latest_daily as (
    select distinct on (asset) asset, close_usd, price_date + 1 as priced_at, source_venue, venues, fallback
    from {{ ref('int_prices_daily') }}
    order by asset, price_date desc
),

direct as (
    select r.asset, r.price_usd, 'ticker' as price_source, c.observed_at as priced_at, c.stamped_by,
           r.source_venue, r.venues, r.fallback, 2 as preference
    from ticker_reference as r
    join ticker_candidates as c on c.asset = r.asset and c.source = r.source_venue

    union all

    select asset, price_usd, 'ohlcv_1m', priced_at, 'venue', source_venue, venues, fallback, 3
    from latest_minute

    union all

    select asset, close_usd, 'ohlcv_1d', cast(priced_at as timestamptz), 'venue', source_venue, venues, fallback, 4
    from latest_daily
),

btc_usd as (
    select price_usd, priced_at, stamped_by, source_venue from direct where asset = 'BTC'
    order by preference, priced_at desc limit 1
),

candidates as (
    select asset, cast(1 as numeric) as price_usd, 'usd_peg' as price_source,
           cast(null as timestamptz) as priced_at, cast(null as text) as stamped_by,
           cast(null as text) as source_venue, cast(null as text) as venues, cast(null as text) as fallback,
           1 as preference
    from pegs

    union all

    select asset, price_usd, price_source, priced_at, stamped_by, source_venue, venues, fallback, preference
    from direct

    union all

    select t.base_asset, t.last_price * b.price_usd, 'cross_btc', least(t.observed_at, b.priced_at),
           case when t.stamped_by = 'venue' and b.stamped_by = 'venue' then 'venue' else 'fetch' end,
           t.source, t.source || ',' || b.source_venue, cast(null as text), 5
    from latest_tickers as t
    cross join btc_usd as b
    where t.quote_asset = 'BTC'
)

select distinct on (asset)
    asset,
    cast(price_usd as numeric(38, 18)) as price_usd,
    price_source,
    priced_at,
    stamped_by as priced_at_stamped_by,
    source_venue,
    venues as price_venues,
    fallback as price_fallback
from candidates
order by asset, preference, priced_at desc nulls last
