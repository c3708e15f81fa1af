-- V022: the historical 10-day VaR and CVaR from the overlapping 10-day windows of the history, beside the
-- 1-day figures scaled by √10 (var_usd, cvar_usd). Null for the other methods and for 1 day
-- (pipelines/domain/risk.py historical_var; README "Prices and risk").
alter table derived.risk_var
    add column if not exists var_overlapping_usd  numeric(38, 2),
    add column if not exists cvar_overlapping_usd numeric(38, 2);
