-- Deposits and withdrawals that no internal transfer explains, for an accountant to review: a payment to or
-- from a third party (mark it 'external' in ops.transfer_overrides), or a move between own accounts the matcher
-- could not pair (add a 'match' override). The nearest opposite movement of the same asset is suggested.
with matched as (
    select out_entry_id as entry_id from {{ source('derived', 'transfer_matches') }}
    union all
    select in_entry_id from {{ source('derived', 'transfer_matches') }}
),

external as (
    select out_entry_id as entry_id from {{ source('ops', 'transfer_overrides') }}
    where decision = 'external' and out_entry_id is not null
    union all
    select in_entry_id from {{ source('ops', 'transfer_overrides') }}
    where decision = 'external' and in_entry_id is not null
),

open_movements as (
    select l.*
    from {{ ref('int_ledger') }} as l
    where l.entry_type in ('deposit', 'withdrawal') and l.leg = 'amount'
      and l.ledger_entry_id not in (select entry_id from matched)
      and l.ledger_entry_id not in (select entry_id from external)
),

suggestions as (
    select distinct on (o.ledger_entry_id)
        o.ledger_entry_id,
        c.ledger_entry_id as candidate_entry_id,
        c.account_id as candidate_account_id,
        abs(c.quantity) as candidate_amount,
        c.occurred_at as candidate_at
    from open_movements as o
    join open_movements as c
        on c.tenant_id = o.tenant_id and c.asset = o.asset and c.account_id <> o.account_id
       and sign(c.quantity) = -sign(o.quantity)
       and c.occurred_at between o.occurred_at - interval '7 days' and o.occurred_at + interval '7 days'
    order by o.ledger_entry_id, abs(extract(epoch from c.occurred_at - o.occurred_at)), c.ledger_entry_id
)

select
    cast(o.tenant_id as text) as tenant_id,
    cast(o.portfolio_id as text) as portfolio_id,
    cast(o.account_id as text) as account_id,
    cast(a.venue as text) as venue,
    cast(o.ledger_entry_id as text) as ledger_entry_id,
    cast(o.entry_type as text) as movement,
    cast(o.asset as text) as asset,
    cast(abs(o.quantity) as numeric(38, 18)) as amount,
    cast(o.occurred_at as timestamptz) as occurred_at,
    cast(o.txid as text) as txid,
    cast(case when s.candidate_entry_id is null
              then 'no opposite ' || o.asset || ' movement in another account within 7 days: likely a third party'
              else 'an opposite movement exists but amount, time or txid do not fit the matching rules' end
         as text) as reason,
    cast(s.candidate_entry_id as text) as candidate_entry_id,
    cast(s.candidate_account_id as text) as candidate_account_id,
    cast(s.candidate_amount as numeric(38, 18)) as candidate_amount,
    cast(s.candidate_at as timestamptz) as candidate_at
from open_movements as o
left join suggestions as s on s.ledger_entry_id = o.ledger_entry_id
left join {{ ref('stg_ops__accounts') }} as a on a.tenant_id = o.tenant_id and a.account_id = o.account_id
