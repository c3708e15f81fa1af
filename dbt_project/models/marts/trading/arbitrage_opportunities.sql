-- Cross-venue arbitrage opportunities (issue 18 §3): what the arbitrage scan observed (ops.arbitrage_observations),
-- an opportunity seen at consecutive scans of its tenant merged into one (gaps and islands over the tenant's scans,
-- ops.arbitrage_scans: a scan that did not see it ends it). Size, edge in bps and profit are net of both taker fees
-- and the withdrawal fees of moving the coins and the quote back (domain/arbitrage.py). A view: the scan runs after
-- the models of its tier, so a table built earlier in the run would lag it. Detection only.
{{ config(materialized='view') }}
with scans as (
    select
        tenant_id,
        scanned_at,
        row_number() over (partition by tenant_id order by scanned_at) as scan_no,
        max(scanned_at) over (partition by tenant_id) as latest_scan
    from {{ source('ops', 'arbitrage_scans') }}
),

seen as (
    select
        o.*,
        s.latest_scan,
        -- constant along a run of consecutive scans: scan number minus the observation's rank in its pair
        s.scan_no - row_number() over (
            partition by o.tenant_id, o.symbol, o.buy_venue, o.sell_venue order by o.scanned_at) as run_key
    from {{ source('ops', 'arbitrage_observations') }} as o
    inner join scans as s on s.tenant_id = o.tenant_id and s.scanned_at = o.scanned_at
),

runs as (
    select
        tenant_id,
        symbol,
        buy_venue,
        sell_venue,
        min(scanned_at) as first_seen,
        max(scanned_at) as last_seen,
        count(*) as observations,
        bool_or(scanned_at = latest_scan) as still_open,
        max(edge_bps) as max_edge_bps,
        max(size) as max_size,
        max(net_profit) as max_net_profit,
        (array_agg(edge_bps order by scanned_at desc))[1] as edge_bps,
        (array_agg(size order by scanned_at desc))[1] as size,
        (array_agg(net_profit order by scanned_at desc))[1] as net_profit,
        (array_agg(best_ask order by scanned_at desc))[1] as best_ask,
        (array_agg(best_bid order by scanned_at desc))[1] as best_bid
    from seen
    group by tenant_id, symbol, buy_venue, sell_venue, run_key
),

thresholds as (
    select distinct on (tenant_id) tenant_id, alert_edge_bps
    from {{ source('ops', 'arbitrage_settings') }}
    order by tenant_id, set_at desc
)

select
    r.tenant_id,
    md5(r.tenant_id || '|' || r.symbol || '|' || r.buy_venue || '|' || r.sell_venue || '|'
        || r.first_seen::text) as opportunity_id,
    r.symbol,
    split_part(r.symbol, '/', 1) as base_asset,
    split_part(r.symbol, '/', 2) as quote_asset,
    r.buy_venue,
    r.sell_venue,
    r.size,
    r.edge_bps,
    r.net_profit,
    r.best_ask,
    r.best_bid,
    r.max_size,
    r.max_edge_bps,
    r.max_net_profit,
    r.first_seen,
    r.last_seen,
    round(cast(extract(epoch from (r.last_seen - r.first_seen)) / 60 as numeric), 2) as lasted_minutes,
    r.observations,
    r.still_open,
    coalesce(t.alert_edge_bps, 50) as alert_edge_bps,
    r.max_edge_bps > coalesce(t.alert_edge_bps, 50) as above_threshold
from runs as r
left join thresholds as t on t.tenant_id = r.tenant_id
