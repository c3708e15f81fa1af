{#- The asset whose price values `asset` (a SQL expression): the seed price_aliases (stETH → ETH, ETH2 → ETH); a
    venue's staked or earning code — Kraken's .S staked, .M opt-in rewards, .P parachain, .F Auto Earn, .B bonded
    or yield-bearing, with the lock days of bonded staking (DOT28.S, ETH2.S) — as its coin, through the seed and
    the venues' own codes (asset_aliases: XBT → BTC); else the asset itself. Reads seeds only, so a model's unit
    tests need no extra input (int_price_aliases lists the result per held code). -#}
{% macro priced_as(asset) %}
coalesce(
    (select pa.priced_as from {{ ref('price_aliases') }} as pa where pa.asset = {{ asset }}),
    (select coalesce(pa.priced_as, va.asset, b.base)
     from (select substring({{ asset }} from '^(.+?)[0-9]*\.[SMFBP]$') as base) as b
     left join {{ ref('price_aliases') }} as pa on pa.asset = b.base
     left join lateral (select v.asset from {{ ref('asset_aliases') }} as v where v.native_code = b.base
                        order by v.asset limit 1) as va on true
     where b.base is not null),
    {{ asset }})
{% endmacro %}
