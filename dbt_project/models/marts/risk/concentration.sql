-- Concentration per portfolio and asset: exposure, weight (of gross value, cash included), volatility over
-- the last 30 days and the 90 before, and the portfolio's HHI, top assets and clusters of assets correlated
-- ≥ 0.8 (jsonb), and its exposure per venue/custodian from positions.
select
    a.tenant_id, a.portfolio_id, a.asset, a.exposure_usd, a.weight, a.vol_30d, a.vol_prior_90d,
    p.hhi, p.top_assets, p.clusters
from {{ source('derived', 'risk_assets') }} as a
join {{ source('derived', 'risk_portfolios') }} as p
    on p.tenant_id = a.tenant_id and p.portfolio_id = a.portfolio_id
