-- Value at Risk and expected shortfall (CVaR) per portfolio: historical simulation, parametric
-- (variance–covariance) and EWMA (RiskMetrics λ = 0.94), at 95 % and 99 %, over 1 and 10 days (√time), in USD,
-- with the share of the portfolio's value; the historical 10-day figures also from the overlapping 10-day windows
-- of the history (not scaled). From daily returns and today's positions (the portfolio_risk asset,
-- pipelines/services/risk.py).
select
    v.tenant_id, v.portfolio_id, v.as_of, v.method, v.confidence, v.horizon_days, v.var_usd, v.cvar_usd,
    v.var_overlapping_usd, v.cvar_overlapping_usd,
    v.value_usd, case when v.value_usd > 0 then round(v.var_usd / v.value_usd, 6) end as var_share,
    v.observations
from {{ source('derived', 'risk_var') }} as v
