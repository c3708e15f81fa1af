"""One portfolio's risk: every figure of pipelines/domain/risk.py put together on its aligned daily returns and
exposures (`assess_portfolio`), and what crosses the tenant's limits (`limit_alerts`). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipelines.domain.risk import (
    Backtest,
    BreakerRules,
    Concentration,
    VaR,
    circuit_breaker,
    concentration,
    correlation,
    correlation_shift,
    drawdown,
    ewma_var,
    historical_var,
    horizon_pnl,
    kupiec,
    parametric_var,
    recent_and_prior_volatility,
    rolling_volatility,
    var_exceptions,
)


@dataclass(frozen=True)
class RiskLimits:
    """Per-tenant thresholds (ops.risk_limits), with defaults."""

    var_99_1d_share: float = 0.10  # 1-day 99 % VaR above this share of the portfolio's value: breach
    hhi: float = 0.50  # concentration above this HHI: breach
    cluster_weight: float = 0.80  # a cluster of assets correlated ≥ cluster_correlation holding more: breach
    cluster_correlation: float = 0.80
    # mean |ρ(last 30 d) − ρ(the 90 d before)| over pairs: a correlation breakdown. A 30-day estimate of ρ ≈ 0.5
    # has a standard error of (1 − ρ²)/√30 ≈ 0.14, so calm markets wander by 0.1–0.15; 0.25 is about two of them
    correlation_shift: float = 0.25
    volatility_spike: float = 2.0  # last 30 days' volatility above this multiple of the 90 days before: spike
    breaker: BreakerRules = field(default_factory=BreakerRules)


@dataclass(frozen=True)
class PortfolioRisk:
    assets: list[str]
    exposures: np.ndarray
    value: float
    var: list[VaR]
    backtest: Backtest
    corr_short: np.ndarray  # the last `short` days
    corr_long: np.ndarray  # the `long` days before them (the baseline)
    shift: tuple[float, float]
    volatility: dict[str, tuple[float, float]]  # asset → (last 30 days, the 90 days before), annualised
    concentration: Concentration
    breaker: list[tuple[bool, str]]  # per day of the history
    alerts: list[tuple[str, str, str, str]]  # (kind, severity, subject, message)


def assess_portfolio(returns: np.ndarray, assets: Sequence[str], exposures: np.ndarray, values: dict[str, float],
                     limits: RiskLimits = RiskLimits(), short: int = 30, long: int = 90,
                     backtest_window: int = 250, estimation_days: int | None = None,
                     volatility: dict[str, tuple[float, float]] | None = None) -> PortfolioRisk:
    """Every risk figure of one portfolio from aligned daily returns (rows: days, oldest first; columns:
    `assets`) and its current USD exposures; `values` are all holdings by asset (cash included) for the
    concentration. VaR is estimated on the last `estimation_days` (None: all); the backtest runs over the
    whole history given. `volatility`: each asset's (recent, prior) volatility from its own returns (default:
    from the aligned ones, the same where no other asset's gap dropped a day). The alerts say what crosses
    `limits`."""
    r_all = np.asarray(returns, dtype=float)
    r = r_all[-estimation_days:] if estimation_days else r_all
    w = np.asarray(exposures, dtype=float)
    pnl = r @ w
    value = float(sum(abs(v) for v in values.values()))
    windows = {h: horizon_pnl(r, w, h) for h in (10,)}  # the historical 10-day figures from 10-day windows too
    var = [f(c, h) for c in (0.95, 0.99) for h in (1, 10) for f in (
        lambda c, h: historical_var(pnl, c, h, windows.get(h)), lambda c, h: parametric_var(r, w, c, h),
        lambda c, h: ewma_var(r, w, c, h))]
    test = rolling_backtest(r_all @ w, backtest_window)
    # the short window against the long window *before* it: a regime change inside the long window would
    # otherwise drag the baseline along with it (30 stressed days dominate a 90-day correlation)
    baseline = r[-(long + short):-short] if len(r) > short else r
    corr_short, corr_long = correlation(r[-short:]), correlation(baseline)
    shift = correlation_shift(corr_short, corr_long)
    if volatility is None:
        volatility = {a: recent_and_prior_volatility(r[:, i], short, long) for i, a in enumerate(assets)}
    conc = concentration(values, corr_long, assets, threshold=limits.cluster_correlation)
    index = np.cumprod(1.0 + r, axis=0) @ w  # the portfolio's value path holding today's exposures throughout
    port_vol = rolling_volatility(pnl / value if value else pnl * 0, short)[:, 0]
    breaker = circuit_breaker(list(port_vol), list(drawdown(index, short)), limits.breaker)
    alerts = limit_alerts(limits, value, var, conc, shift, volatility, breaker, short, long)
    return PortfolioRisk(list(assets), w, value, var, test, corr_short, corr_long, shift, volatility, conc,
                         breaker, alerts)


def rolling_backtest(pnl: np.ndarray, window: int = 250, confidence: float = 0.99) -> Backtest:
    """Kupiec's test of each day's P&L against the historical 1-day VaR of the `window` days before it."""
    forecasts = np.full(len(pnl), np.nan)
    for t in range(window, len(pnl)):
        forecasts[t] = historical_var(pnl[t - window:t], confidence).var
    return kupiec(var_exceptions(pnl, forecasts), int(np.isfinite(forecasts).sum()), confidence)


def limit_alerts(limits: RiskLimits, value: float, var: list[VaR], conc: Concentration, shift: tuple[float, float],
                 volatility: dict[str, tuple[float, float]], breaker: list[tuple[bool, str]], short: int,
                 long: int) -> list[tuple[str, str, str, str]]:
    """What crosses the tenant's limits, as (kind, severity, subject, message)."""
    alerts: list[tuple[str, str, str, str]] = []
    one_day = next(v for v in var if v.method == "historical" and v.confidence == 0.99 and v.horizon == 1)
    if value and one_day.var > limits.var_99_1d_share * value:
        alerts.append(("var_limit", "critical", "var_99_1d", f"1-day 99 % VaR {one_day.var:,.0f} USD is "
                       f"{one_day.var / value:.1%} of the portfolio (limit {limits.var_99_1d_share:.0%})"))
    if conc.hhi > limits.hhi:
        alerts.append(("concentration_limit", "warning", "hhi",
                       f"HHI {conc.hhi:.2f} above {limits.hhi:.2f} (largest: {conc.top[0][0]} {conc.top[0][1]:.0%})"))
    for group, weight in conc.clusters:
        if len(group) > 1 and weight > limits.cluster_weight:
            alerts.append(("concentration_limit", "warning", "cluster:" + "+".join(group),
                           f"{', '.join(group)} move together (ρ ≥ {limits.cluster_correlation}) and hold "
                           f"{weight:.0%} (limit {limits.cluster_weight:.0%})"))
    if shift[0] > limits.correlation_shift:
        alerts.append(("correlation_breakdown", "critical", "correlation",
                       f"correlations moved by {shift[0]:.2f} on average ({shift[1]:.2f} at most) between the "
                       f"{long} days before and the last {short} (threshold {limits.correlation_shift})"))
    for asset, (vs, vl) in volatility.items():
        if vl > 0 and vs > limits.volatility_spike * vl:
            alerts.append(("volatility_spike", "warning", asset, f"{asset} {short}-day volatility {vs:.0%} is "
                           f"{vs / vl:.1f}× its level of the {long} days before ({vl:.0%})"))
    if breaker and breaker[-1][0]:
        reason = next((why for tripped, why in reversed(breaker) if tripped and why), "tripped")
        alerts.append(("circuit_breaker", "critical", "breaker", f"circuit breaker open: {reason}"))
    return alerts
