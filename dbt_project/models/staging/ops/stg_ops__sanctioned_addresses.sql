-- The addresses of the current version of each sanctions list (the latest published; a list without a publish
-- date, a plain CSV: the latest loaded). Older versions stay in ops.sanctioned_addresses, unread here. One row per
-- list entry and address key (an SDN entry lists one address under several tickers: ETH, USDT).
with current_versions as (
    select distinct on (list_name) list_id, list_name, version
    from {{ source('ops', 'sanctions_lists') }}
    order by list_name, published_on desc nulls last, loaded_at desc, list_id desc
)

select distinct on (v.list_name, a.entry_uid, a.address_key)
    v.list_id, v.list_name, v.version as list_version, a.entry_uid, a.entry_name, a.entry_type, a.programs,
    a.ticker, a.address as listed_address, a.address_key
from current_versions as v
join {{ source('ops', 'sanctioned_addresses') }} as a on a.list_id = v.list_id
order by v.list_name, a.entry_uid, a.address_key, a.ticker
