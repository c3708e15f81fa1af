{#- The USD daily close of `asset` on the day of `at`, else the latest of the 7 days before (int_prices_daily),
    as a lateral subquery: `left join lateral {{ daily_close('t.asset', 't.occurred_at') }} as p on true`
    gives p.close_usd, p.price_date, p.venues (the venue the reference close came from). -#}
{% macro daily_close(asset, at) %}
(
    select d.close_usd, d.price_date, d.source_venue as venues from {{ ref('int_prices_daily') }} as d
    where d.asset = {{ asset }} and d.price_date <= cast({{ at }} as date)
      and d.price_date >= cast({{ at }} as date) - 7
    order by d.price_date desc limit 1
)
{% endmacro %}
