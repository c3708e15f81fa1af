-- V010: portfolio risk. Limits per tenant (ops.risk_limits; a null column = the default in
-- pipelines/domain/risk.py RiskLimits) and the risk asset's results (derived.risk_*), which marts/risk read.
-- Statistics are double precision (returns, volatility, correlation: DESIGN allows floats for statistics);
-- USD amounts (VaR, CVaR, values) are numeric, rounded to cents.

create table if not exists ops.risk_limits (
    tenant_id                 text primary key,
    var_99_1d_share           numeric(6, 4),     -- 1-day 99 % VaR / portfolio value (default 0.10)
    hhi                       numeric(6, 4),     -- default 0.50
    cluster_weight            numeric(6, 4),     -- default 0.80
    cluster_correlation       numeric(6, 4),     -- default 0.80
    correlation_shift         numeric(6, 4),     -- default 0.25
    volatility_spike          numeric(6, 2),     -- default 2.0 (× the prior level)
    breaker_trip_volatility   numeric(6, 4),     -- annualised, default 1.20
    breaker_trip_drawdown     numeric(6, 4),     -- default 0.20
    breaker_reset_volatility  numeric(6, 4),     -- default 0.80
    breaker_reset_drawdown    numeric(6, 4),     -- default 0.10
    breaker_calm_days         integer,           -- default 3
    updated_at                timestamptz not null default now()
);

create unlogged table if not exists derived.risk_var (
    tenant_id     text not null,
    portfolio_id  text not null,
    as_of         date not null,
    method        text not null check (method in ('historical', 'parametric', 'ewma')),
    confidence    numeric(4, 3) not null,
    horizon_days  integer not null,
    var_usd       numeric(38, 2) not null,
    cvar_usd      numeric(38, 2) not null,
    value_usd     numeric(38, 2) not null,
    observations  integer not null,
    run_id        text,
    primary key (tenant_id, portfolio_id, method, confidence, horizon_days)
);

create unlogged table if not exists derived.risk_backtest (
    tenant_id     text not null,
    portfolio_id  text not null,
    as_of         date not null,
    observations  integer not null,
    exceptions    integer not null,
    expected      double precision not null,
    lr_pof        double precision not null,
    p_value       double precision not null,
    rejected      boolean not null,
    run_id        text,
    primary key (tenant_id, portfolio_id)
);

create unlogged table if not exists derived.risk_correlations (
    tenant_id     text not null,
    portfolio_id  text not null,
    window_name   text not null check (window_name in ('last_30d', 'prior_90d')),
    asset_a       text not null,
    asset_b       text not null,
    correlation   double precision not null,
    run_id        text,
    primary key (tenant_id, portfolio_id, window_name, asset_a, asset_b)
);

create unlogged table if not exists derived.risk_assets (
    tenant_id        text not null,
    portfolio_id     text not null,
    asset            text not null,
    exposure_usd     numeric(38, 2) not null,
    weight           double precision not null,
    vol_30d          double precision,
    vol_prior_90d    double precision,
    run_id           text,
    primary key (tenant_id, portfolio_id, asset)
);

create unlogged table if not exists derived.risk_portfolios (
    tenant_id            text not null,
    portfolio_id         text not null,
    as_of                date not null,
    value_usd            numeric(38, 2) not null,
    hhi                  double precision not null,
    top_assets           text not null,
    clusters             jsonb not null,
    correlation_shift    double precision not null,
    correlation_shift_max double precision not null,
    breaker_open         boolean not null,
    breaker_since        date,
    breaker_reason       text,
    run_id               text,
    primary key (tenant_id, portfolio_id)
);
