-- Every tenant's lot settings, the defaults where ops.lot_settings has no row; `methods` lists the per-year
-- elections ('2024:fifo,2025:hifo') that the lot engine applies from their year on.
select
    t.tenant_id,
    coalesce(s.book_scope, 'account') as book_scope,
    coalesce(s.default_method, 'fifo') as default_method,
    coalesce(s.specific_fallback, 'fifo') as specific_fallback,
    coalesce(s.stablecoins_as_cash, true) as stablecoins_as_cash,
    (select string_agg(m.tax_year || ':' || m.method, ',' order by m.tax_year)
     from {{ source('ops', 'lot_methods') }} as m where m.tenant_id = t.tenant_id) as methods
from {{ source('ops', 'tenants') }} as t
left join {{ source('ops', 'lot_settings') }} as s on s.tenant_id = t.tenant_id
