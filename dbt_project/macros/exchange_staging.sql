{#- Staging for a ccxt venue: every seed venue lands the same canonical columns (raw.<venue>_<entity>),
    so one macro per entity serves them all; each stg_<venue>__<entity> model is one call. -#}

{% macro stg_exchange_balances(venue) %}
-- Exchange-reported balances, one row per account, asset and snapshot; quarantined rows excluded.
select
    r.tenant_id,
    r.account_id,
    r.source,
    r.source_record_id,
    r.record_hash,
    {{ unified_asset('r.asset', 'r.source') }} as asset,
    r.free,
    r.used,
    r.total,
    r.observed_at,
    r.ingested_at,
    -- the venue's other wallet the balance is of ('binance:earn_flexible'); null: the wallet the account's
    -- ledger books directly (spot)
    cast(r.payload->>'wallet' as text) as wallet
from {{ source(venue, venue ~ '_balances') }} as r
where {{ admitted('r', 'raw.' ~ venue ~ '_balances') }}
{% endmacro %}

{% macro stg_exchange_trades(venue) %}
-- Own trades, typed and with unified asset codes; quarantined rows excluded.
select
    r.tenant_id,
    r.account_id,
    r.source,
    r.source_record_id,
    r.record_hash,
    r.occurred_at,
    r.symbol,
    {{ unified_asset('r.base_asset', 'r.source') }} as base_asset,
    {{ unified_asset('r.quote_asset', 'r.source') }} as quote_asset,
    r.side,
    r.price,
    r.quantity,
    r.cost,
    coalesce(r.fee_amount, 0) as fee_amount,
    {{ unified_asset('r.fee_asset', 'r.source') }} as fee_asset,
    r.order_id,
    r.is_maker,
    r.ingested_at
from {{ source(venue, venue ~ '_trades') }} as r
where {{ admitted('r', 'raw.' ~ venue ~ '_trades') }}
{% endmacro %}

{% macro stg_exchange_transfers(venue) %}
-- Deposits and withdrawals, latest known state per venue transfer (a status change is a new raw row);
-- quarantined rows excluded.
with clean as (
    select r.*
    from {{ source(venue, venue ~ '_transfers') }} as r
    where {{ admitted('r', 'raw.' ~ venue ~ '_transfers') }}
),

ranked as (
    select
        clean.*,
        row_number() over (
            partition by tenant_id, account_id, source, transfer_type, coalesce(transfer_id, source_record_id)
            order by ingested_at desc, source_record_id desc
        ) as version_rank
    from clean
)

select
    tenant_id,
    account_id,
    source,
    source_record_id,
    record_hash,
    coalesce(transfer_id, source_record_id) as transfer_id,
    transfer_type,
    occurred_at,
    {{ unified_asset('asset') }} as asset,
    amount,
    coalesce(fee_amount, 0) as fee_amount,
    {{ unified_asset('coalesce(fee_asset, asset)') }} as fee_asset,
    status,
    network,
    address,
    txid,
    ingested_at
from ranked
where version_rank = 1
{% endmacro %}

{% macro stg_exchange_tickers(venue) %}
-- Ticker observations per market (public market data); quarantined rows excluded.
select
    r.source,
    r.source_record_id,
    r.record_hash,
    r.symbol,
    {{ unified_asset('r.base_asset', 'r.source') }} as base_asset,
    {{ unified_asset('r.quote_asset', 'r.source') }} as quote_asset,
    r.observed_at,
    r.last_price,
    r.bid,
    r.ask,
    r.quote_volume,
    r.ingested_at
from {{ source(venue, venue ~ '_tickers') }} as r
where {{ admitted('r', 'raw.' ~ venue ~ '_tickers') }}
{% endmacro %}

{% macro stg_exchange_ohlcv(venue) %}
-- Closed candles per market and timeframe (public market data); quarantined rows excluded.
select
    r.source,
    r.source_record_id,
    r.record_hash,
    r.symbol,
    {{ unified_asset('r.base_asset', 'r.source') }} as base_asset,
    {{ unified_asset('r.quote_asset', 'r.source') }} as quote_asset,
    r.timeframe,
    r.open_time,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    r.ingested_at
from {{ source(venue, venue ~ '_ohlcv') }} as r
where {{ admitted('r', 'raw.' ~ venue ~ '_ohlcv') }}
{% endmacro %}
