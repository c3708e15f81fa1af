{#- The coin a venue's staked or earning code stands for (`asset`: a SQL expression), else the code itself:
    Kraken writes a balance held in Staking or Earn under the coin's code with a suffix — .S on-chain staked, .M
    opt-in rewards, .P parachain, .F Auto Earn, .B bonded or yield-bearing — and bonded staking codes carry their
    lock days (DOT28.S → DOT, ETH2.S → ETH). A plain expression (no table), so a model's unit tests need no extra
    input; int_price_aliases adds the seed's aliases (stETH → ETH) and the venues' own codes (XBT.S → BTC). -#}
{% macro staked_coin(asset) -%}
coalesce(substring({{ asset }} from '^(.+?)[0-9]*\.[SMFBP]$'), {{ asset }})
{%- endmacro %}
