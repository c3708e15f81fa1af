-- What the books cannot give a gain for, with the reason and what would fix it:
--   no_lots        disposed of (or sent, or withdrew) more than was ever acquired in the book: a purchase
--                  history is missing (import the venue's CSV export, or connect the account it came from)
--   unknown_basis  sold from coins deposited from outside: enter their cost in ops.cost_basis (lot_event_id
--                  is the deposit)
--   no_price       proceeds or income without a price on the day: the value is unknown
-- Nothing here is priced at zero; realized_pnl counts these apart.
select
    m.tenant_id, e.portfolio_id, e.account_id, m.asset, m.event_id, e.kind, e.source, m.occurred_at,
    m.quantity, case when e.kind = 'dispose' and not e.proceeds_unknown then m.proceeds end as proceeds,
    cast(null as text) as lot_event_id,
    'no_lots' as reason,
    case e.kind when 'dispose' then 'disposed of more than the book ever acquired'
                when 'withdraw' then 'withdrew more than the book ever acquired'
                else 'sent more than the book ever acquired' end as detail
from {{ source('derived', 'lot_missing') }} as m
join {{ ref('int_lot_events') }} as e on e.tenant_id = m.tenant_id and e.event_id = m.event_id

union all

select
    d.tenant_id, d.portfolio_id, d.account_id, d.asset, d.disposal_event_id, d.disposal_kind, d.disposal_source,
    d.disposed_at, d.quantity, d.proceeds, d.lot_event_id, 'unknown_basis',
    'taken from a lot of unknown basis (' || coalesce(l.valuation, 'an average pool that holds one') || ')'
from {{ ref('disposals') }} as d
left join {{ ref('int_lot_events') }} as l on l.tenant_id = d.tenant_id and l.event_id = d.lot_event_id
where not d.basis_known and d.treatment = 'realized'

union all

select
    e.tenant_id, e.portfolio_id, e.account_id, e.asset, e.event_id, e.kind, e.source, e.occurred_at, e.quantity,
    null, null, 'no_price', 'no price for ' || e.asset || ' on ' || cast(e.occurred_at as date) || ': ' || e.valuation
from {{ ref('int_lot_events') }} as e
where e.proceeds_unknown or (e.source = 'income' and e.value_usd is null)
