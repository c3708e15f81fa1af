-- Every counterparty address found on the current version of a sanctions list: one row per tenant, record,
-- address and list entry. hit_id is stable (md5 of the record, the address key, the list and the entry — not the
-- list version, so that a decision carries over to the next version; pipelines/domain/screening.hit_id). A table,
-- rebuilt each run; marts.screening_hits adds the reviewers' decisions to it as they are made.
select
    md5(c.tenant_id || '|' || c.source || '|' || c.account_id || '|' || c.source_record_id || '|' || c.address_key
        || '|' || l.list_name || '|' || l.entry_uid) as hit_id,
    c.tenant_id,
    c.account_id,
    c.source,
    c.source_record_id,
    c.origin,
    c.direction,
    c.occurred_at,
    c.asset,
    c.amount,
    c.address,
    c.txid,
    l.list_name,
    l.list_version,
    l.entry_name,
    l.entry_uid,
    l.entry_type,
    array_to_string(l.programs, ', ') as programs,
    l.listed_address
from {{ ref('int_counterparty_addresses') }} as c
join {{ ref('stg_ops__sanctioned_addresses') }} as l on l.address_key = c.address_key
