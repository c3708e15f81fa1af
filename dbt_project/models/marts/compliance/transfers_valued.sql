{{ config(materialized="table") }}
-- Every deposit and withdrawal of every account (marts.ledger's 'amount' legs of entry_type deposit | withdrawal;
-- DeFi movements and spam are not transfers of value to someone), with the other side as far as Coinbook knows it
-- and its value in USD and EUR on its UTC day. marts.large_transfers and marts.unhosted_wallet_transfers apply each
-- tenant's thresholds to it (views: a threshold set now applies at once).
--
-- counterparty_kind:
--   venue       the other side is an exchange: a matched internal transfer to or from one of the tenant's exchange
--               accounts, or an address the tenant deposits to at a venue (seen in its exchange deposits)
--   own_wallet  one of the tenant's own wallets (accounts.yaml: a matched transfer, or an address of the wallet) —
--               self-hosted: under the EU Transfer of Funds Regulation still an unhosted-wallet transfer
--   unhosted    an address that is not known as a venue's or the tenant's
--   unknown     no address in the record (exchange deposits do not say who sent them; fiat bank transfers)
with pegs as (
    select asset from {{ ref('usd_pegged_assets') }}
),

moves as (
    select * from {{ ref('int_ledger') }}
    where entry_type in ('deposit', 'withdrawal') and leg = 'amount'
),

fiat as (
    select asset from {{ ref('fiat_currencies') }}
),

-- An exchange gives a withdrawal's destination; a deposit's address is the tenant's own deposit address there, not
-- the sender (which no venue API gives).
addresses as (
    select tenant_id, account_id, source, source_record_id, cast(address as text) as address, cast(null as text) as chain
    from {{ ref('int_exchange_transfers') }}
    where transfer_type = 'withdrawal'
    union all
    select tenant_id, account_id, source, source_record_id,
           (select string_agg(a, ', ' order by a) from jsonb_array_elements_text(counterparties) as c (a)), 'bitcoin'
    from {{ ref('stg_chains__btc_transactions') }}
    union all
    select tenant_id, account_id, source, source_record_id, counterparty, chain
    from {{ ref('stg_chains__evm_transfers') }}
),

own_wallet_addresses as (
    select tenant_id, account_id, lower(address) as address from {{ source('ops', 'wallet_addresses') }}
    union
    select tenant_id, account_id, lower(settings ->> 'address') from {{ source('ops', 'accounts') }}
    where kind in ('wallet', 'defi') and settings ->> 'address' is not null
),

-- One row per address (the first venue by name, should two ever share one), computed once: as a lateral
-- subquery it was computed again for every transfer (5.6 ms each, 13 of the 14 s this model took at 100k trades).
venue_deposit_addresses as materialized (
    select t.tenant_id, lower(t.address) as address, min(a.venue) as venue
    from {{ ref('int_exchange_transfers') }} as t
    join {{ ref('stg_ops__accounts') }} as a on a.tenant_id = t.tenant_id and a.account_id = t.account_id
    where t.transfer_type = 'deposit' and t.address is not null and t.address <> '' and a.kind = 'exchange'
    group by t.tenant_id, lower(t.address)
),

matches as (
    select tenant_id, out_entry_id as entry_id, match_id, in_account_id as other_account_id
    from {{ source('derived', 'transfer_matches') }}
    union all
    select tenant_id, in_entry_id, match_id, out_account_id from {{ source('derived', 'transfer_matches') }}
),

classified as (
    select
        m.*,
        acc.venue as account_venue,
        acc.kind as account_kind,
        x.match_id,
        x.other_account_id,
        other.venue as other_venue,
        nullif(ad.address, '') as counterparty_address,
        case
            when x.match_id is not null then case when other.kind = 'exchange' then 'venue' else 'own_wallet' end
            when own.address is not null then 'own_wallet'
            when dep.address is not null then 'venue'
            when nullif(ad.address, '') is not null then 'unhosted'
            else 'unknown'
        end as counterparty_kind,
        coalesce(other.venue, dep.venue) as counterparty_venue,
        own.account_id as own_wallet_account_id
    from moves as m
    left join {{ ref('stg_ops__accounts') }} as acc on acc.tenant_id = m.tenant_id and acc.account_id = m.account_id
    left join addresses as ad
        on ad.tenant_id = m.tenant_id and ad.account_id = m.account_id and ad.source = m.source
       and ad.source_record_id = m.source_record_id
    left join matches as x on x.tenant_id = m.tenant_id and x.entry_id = m.ledger_entry_id
    left join {{ ref('stg_ops__accounts') }} as other
        on other.tenant_id = m.tenant_id and other.account_id = x.other_account_id
    left join lateral (
        select w.account_id, w.address from own_wallet_addresses as w
        where w.tenant_id = m.tenant_id and w.account_id <> m.account_id and w.address = lower(ad.address)
        limit 1
    ) as own on true
    left join venue_deposit_addresses as dep on dep.tenant_id = m.tenant_id and dep.address = lower(ad.address)
),

valued as (
    select
        c.*,
        case
            when c.asset in (select asset from pegs) then 1
            when c.asset = 'EUR' then fx.usd_per_eur
            else px.close_usd
        end as unit_usd,
        fx.usd_per_eur
    from classified as c
    -- the day's close, or the latest of the three days before (a day the venues were down)
    left join lateral (
        select p.close_usd from {{ ref('int_prices_daily') }} as p
        where p.asset = c.asset and p.price_date between cast(c.occurred_at as date) - 3 and cast(c.occurred_at as date)
        order by p.price_date desc limit 1
    ) as px on true
    left join lateral (
        select r.usd_per_eur from {{ ref('int_eur_usd_daily') }} as r
        where r.rate_date between cast(c.occurred_at as date) - 3 and cast(c.occurred_at as date)
        order by r.rate_date desc limit 1
    ) as fx on true
)

select
    cast(v.ledger_entry_id as text) as transfer_key,
    cast(v.tenant_id as text) as tenant_id,
    cast(v.portfolio_id as text) as portfolio_id,
    cast(v.account_id as text) as account_id,
    cast(v.account_venue as text) as account_venue,
    cast(v.account_kind as text) as account_kind,
    cast(v.source as text) as source,
    cast(v.source_record_id as text) as source_record_id,
    cast(v.occurred_at as timestamptz) as occurred_at,
    cast(case when v.entry_type = 'deposit' then 'in' else 'out' end as text) as direction,
    cast(v.asset as text) as asset,
    cast(abs(v.quantity) as numeric(38, 18)) as amount,
    cast(abs(v.quantity) * v.unit_usd as numeric(38, 2)) as value_usd,
    cast(case when v.asset = 'EUR' then abs(v.quantity)
              else abs(v.quantity) * v.unit_usd / v.usd_per_eur end as numeric(38, 2)) as value_eur,
    cast(v.usd_per_eur as numeric(38, 18)) as usd_per_eur,
    cast(v.counterparty_address as text) as counterparty_address,
    cast(v.counterparty_kind as text) as counterparty_kind,
    cast(v.counterparty_venue as text) as counterparty_venue,
    cast(v.match_id as text) as match_id,
    cast(v.other_account_id as text) as other_account_id,
    cast(coalesce(v.other_account_id, v.own_wallet_account_id) as text) as own_account_id,
    cast(v.match_id is not null as boolean) as internal,
    cast(v.asset in (select asset from fiat) as boolean) as fiat,
    cast(v.txid as text) as txid
from valued as v
