{{ config(meta={"dagster": {"ref": {"name": "open_lots"}}}) }}
-- Every cost that entered the lots left with a disposal or is still open (the engine splits by subtraction):
-- per tenant and asset, cost of acquisitions = cost booked out by slices + cost of the open lots, to the cent.
-- Transfers carry cost whole, so they do not appear. Returns the units where it does not hold.
with acquired as (
    select tenant_id, asset, sum(coalesce(value_usd, 0)) as cost
    from {{ ref('int_lot_events') }}
    where kind = 'acquire'
    group by tenant_id, asset
),

booked_out as (
    select tenant_id, asset, sum(cost_booked) as cost from {{ ref('disposals') }} group by tenant_id, asset
),

still_open as (
    select tenant_id, asset, sum(cost_booked) as cost from {{ ref('open_lots') }} group by tenant_id, asset
)

select a.tenant_id, a.asset, a.cost as acquired, coalesce(b.cost, 0) as out, coalesce(o.cost, 0) as open
from acquired as a
left join booked_out as b on b.tenant_id = a.tenant_id and b.asset = a.asset
left join still_open as o on o.tenant_id = a.tenant_id and o.asset = a.asset
where a.cost <> coalesce(b.cost, 0) + coalesce(o.cost, 0)
