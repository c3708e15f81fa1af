-- What each held asset code is priced as, when not as itself (macro priced_as): the seed price_aliases (stETH →
-- ETH, ETH2 → ETH), and a venue's staked or earning code as its coin. Kraken writes a balance held in Staking or
-- Earn under the coin's code with a suffix — .S on-chain staked, .M opt-in rewards, .P parachain, .F Auto Earn,
-- .B bonded / yield-bearing — and bonded staking codes carry their lock days (DOT28.S, ETH2.S): the coin itself,
-- locked or earning (support.kraken.com "What is Asset.S and Asset.M?"; docs.kraken.com Get Ledgers Info).
with codes as (
    select asset from {{ ref('price_aliases') }}
    union
    select asset from {{ ref('int_ledger') }}
    union
    select asset from {{ ref('int_reported_balances') }}
),

priced as (
    select c.asset, {{ priced_as('c.asset') }} as priced_as
    from codes as c
)

select asset, priced_as
from priced
where priced_as <> asset
