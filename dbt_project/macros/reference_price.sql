{#- Reference prices: one USD price per asset and time bucket, chosen among the venues' candidate prices by
    source priority (seed price_source_priority; a venue not listed ranks after those listed, by name), with
    fallback when the preferred venue is missing in that bucket or is an outlier: more than `threshold` away
    from the median of the venues quoting the asset in the bucket. With fewer than 3 venues nobody can be
    called wrong, so nothing is excluded (a 2-venue split shows in deviation). If every venue is an outlier
    (an even split), the preferred one is kept and `disputed` is true.

    `candidates`: a relation or CTE with asset, <bucket>, source, symbol, price_usd, excluded_reason (one row
    per asset, bucket and source; a row with an excluded_reason, e.g. 'stale', neither votes nor is chosen,
    and its reason shows in the fallback). Gives asset, <bucket>, price_usd, source_venue, source_symbol, source_priority,
    venues (every venue that quoted, in priority order), n_venues, median_usd, deviation (of the chosen price
    from the median), disputed, fallback (null when the asset's preferred venue gave the price, else why each
    better-ranked venue was passed over, e.g. "coinbase: missing; kraken: outlier +30.1 %").

    percentile_disc keeps the median an exact numeric; the mean of the lower and upper medians is the
    median of an even count. A whole statement (with its own CTEs): use it as `name as ( <macro> )`. -#}
{% macro reference_price(candidates, bucket, threshold, price_column='price_usd') %}
with all_ranked as (
    select c.asset, c.{{ bucket }}, c.source, c.symbol, c.price_usd, c.excluded_reason,
           coalesce(p.priority, 1000) as priority
    from {{ candidates }} as c
    left join {{ ref('price_source_priority') }} as p on p.source = c.source
),

ranked as (
    select * from all_ranked where excluded_reason is null
),

medians as (
    select asset, {{ bucket }}, count(*) as n_venues,
           (percentile_disc(0.5) within group (order by price_usd)
            + percentile_disc(0.5) within group (order by price_usd desc)) / 2 as median_usd,
           string_agg(source, ',' order by priority, source) as venues
    from ranked
    group by asset, {{ bucket }}
),

judged as (
    select r.*, m.n_venues, m.median_usd, m.venues,
           r.price_usd / m.median_usd - 1 as deviation,
           (m.n_venues >= 3 and abs(r.price_usd / m.median_usd - 1) > {{ threshold }}) as outlier
    from ranked as r
    join medians as m on m.asset = r.asset and m.{{ bucket }} = r.{{ bucket }}
    where m.median_usd > 0
),

chosen as (
    select distinct on (asset, {{ bucket }}) *
    from judged
    order by asset, {{ bucket }}, outlier, priority, source
),

-- Every venue that ever quoted the asset, ranked: the ones ranked before the chosen venue were passed over.
asset_venues as (
    select distinct asset, source, priority from all_ranked
),

passed_over as (
    select ch.asset, ch.{{ bucket }},
           string_agg(v.source || case
                          when x.excluded_reason is not null then ': ' || x.excluded_reason
                          when j.source is null then ': missing'
                          else ': outlier ' || case when j.deviation > 0 then '+' else '' end
                               || trim(to_char(j.deviation * 100, 'FM999990.0')) || ' %'
                      end, '; ' order by v.priority, v.source) as fallback
    from chosen as ch
    join asset_venues as v
        on v.asset = ch.asset and (v.priority, v.source) < (ch.priority, ch.source)
    left join judged as j on j.asset = ch.asset and j.{{ bucket }} = ch.{{ bucket }} and j.source = v.source
    left join all_ranked as x
        on x.asset = ch.asset and x.{{ bucket }} = ch.{{ bucket }} and x.source = v.source
        and x.excluded_reason is not null
    group by ch.asset, ch.{{ bucket }}
)

select
    cast({{ public_tenant() }} as text) as tenant_id,  -- market data belongs to no client
    ch.asset,
    ch.{{ bucket }},
    cast(ch.price_usd as numeric(38, 18)) as {{ price_column }},
    ch.source as source_venue,
    ch.symbol as source_symbol,
    ch.priority as source_priority,
    ch.venues,
    cast(ch.n_venues as integer) as n_venues,
    cast(ch.median_usd as numeric(38, 18)) as median_usd,
    cast(ch.deviation as numeric(20, 10)) as deviation,
    ch.outlier as disputed,
    po.fallback
from chosen as ch
left join passed_over as po on po.asset = ch.asset and po.{{ bucket }} = ch.{{ bucket }}
{% endmacro %}

{#- The candidate prices of one timeframe: each venue's close of <asset>/<USD or a USD stablecoin> per
    candle (a stablecoin counts as 1 USD, as everywhere in Coinbook); where a venue lists both, USD first. -#}
{% macro candle_candidates(timeframe, bucket_expression, bucket) %}
select distinct on (o.base_asset, {{ bucket_expression }}, o.source)
    o.base_asset as asset,
    {{ bucket_expression }} as {{ bucket }},
    o.source,
    o.symbol,
    o.close as price_usd,
    cast(null as text) as excluded_reason
from {{ ref('int_exchange_ohlcv') }} as o
join {{ ref('usd_pegged_assets') }} as pegs on pegs.asset = o.quote_asset
where o.timeframe = '{{ timeframe }}' and o.close > 0 and o.base_asset <> o.quote_asset
order by o.base_asset, {{ bucket_expression }}, o.source, (o.quote_asset = 'USD') desc, o.quote_asset
{% endmacro %}
