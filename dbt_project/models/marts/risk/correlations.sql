-- Pairwise correlations of daily returns per portfolio: the last 30 days and the 90 days before them, side by
-- side, with the shift (a breakdown is a large shift: see ops.alerts kind correlation_breakdown).
select
    s.tenant_id, s.portfolio_id, s.asset_a, s.asset_b,
    s.correlation as correlation_30d,
    l.correlation as correlation_prior_90d,
    s.correlation - l.correlation as shift
from {{ source('derived', 'risk_correlations') }} as s
join {{ source('derived', 'risk_correlations') }} as l
    on l.tenant_id = s.tenant_id and l.portfolio_id = s.portfolio_id and l.asset_a = s.asset_a
   and l.asset_b = s.asset_b and l.window_name = 'prior_90d'
where s.window_name = 'last_30d'
