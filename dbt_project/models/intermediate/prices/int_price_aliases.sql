-- What each held asset code is priced as, when not as itself: the seed price_aliases (stETH → ETH, ETH2 → ETH),
-- and a venue's staked or earning code as its coin (macro staked_coin). Kraken writes a balance held in Staking or
-- Earn under the coin's code with a suffix — .S on-chain staked, .M opt-in rewards, .P parachain, .F Auto Earn, .B
-- bonded / yield-bearing — and bonded staking codes carry their lock days (DOT28.S, ETH2.S): the coin itself,
-- locked or earning (support.kraken.com "What is Asset.S and Asset.M?"; docs.kraken.com Get Ledgers Info). The coin
-- goes through the seed (ETH2 → ETH) and the venues' own codes (XBT → BTC) in turn.
with codes as (
    select asset from {{ ref('price_aliases') }}
    union
    select asset from {{ ref('int_ledger') }}
    union
    select asset from {{ ref('int_reported_balances') }}
),

coins as (
    select asset, {{ staked_coin('asset') }} as coin from codes
),

priced as (
    select
        c.asset,
        coalesce(direct.priced_as, via_coin.priced_as, venue_code.asset, c.coin) as priced_as
    from coins as c
    left join {{ ref('price_aliases') }} as direct on direct.asset = c.asset
    left join {{ ref('price_aliases') }} as via_coin on via_coin.asset = c.coin and c.coin <> c.asset
    left join lateral (
        select v.asset from {{ ref('asset_aliases') }} as v
        where v.native_code = c.coin and c.coin <> c.asset
        order by v.asset limit 1
    ) as venue_code on true
)

select asset, priced_as
from priced
where priced_as <> asset
