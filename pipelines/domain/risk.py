"""Risk maths on returns: volatility, correlation, VaR and CVaR (historical, parametric, EWMA), the Kupiec
backtest, concentration, correlation breakdown, drawdown and the volatility circuit breaker.

Pure (numpy/scipy, no I/O). Statistics are floats (DESIGN: floats are fine for statistics, never for money);
exposures come in as USD values and VaR/CVaR go out as USD losses (positive numbers), which the caller rounds
to cents before storing. Conventions:
- returns are simple returns r_t = p_t / p_{t−1} − 1, one row per period, one column per asset;
- a portfolio's P&L for a period is exposures · r (linear in the exposures: what a position of value v gains);
- VaR_α is the loss not exceeded with probability α (0.95, 0.99), CVaR_α (expected shortfall) the mean loss
  beyond it; horizons of h periods scale by √h (square-root-of-time, for every method alike);
- EWMA is RiskMetrics: Σ_t = λ Σ_{t−1} + (1 − λ) r_{t−1} r_{t−1}ᵀ, λ = 0.94 for daily data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

RISKMETRICS_LAMBDA = 0.94


def simple_returns(prices: np.ndarray) -> np.ndarray:
    """Period-over-period returns of a price matrix (rows: periods, columns: assets); one row fewer."""
    prices = np.asarray(prices, dtype=float)
    return prices[1:] / prices[:-1] - 1.0


def rolling_volatility(returns: np.ndarray, window: int, periods_per_year: int = 365) -> np.ndarray:
    """Annualised rolling standard deviation (sample, ddof=1) per column; NaN until a window is full."""
    r = np.atleast_2d(np.asarray(returns, dtype=float).T).T
    out = np.full(r.shape, np.nan)
    for end in range(window, r.shape[0] + 1):
        out[end - 1] = r[end - window:end].std(axis=0, ddof=1)
    return out * np.sqrt(periods_per_year)


def correlation(returns: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns (an asset that never moved correlates with nothing: 0)."""
    r = np.asarray(returns, dtype=float)
    centred = r - r.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (centred.T @ centred) / np.outer(scale, scale)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    return corr


def ewma_covariance(returns: np.ndarray, lam: float = RISKMETRICS_LAMBDA) -> np.ndarray:
    """RiskMetrics covariance after the last return: seeded with the first return's outer product."""
    r = np.asarray(returns, dtype=float)
    cov = np.outer(r[0], r[0])
    for row in r[1:]:
        cov = lam * cov + (1.0 - lam) * np.outer(row, row)
    return cov


@dataclass(frozen=True)
class VaR:
    method: str  # historical | parametric | ewma
    confidence: float
    horizon: int  # periods
    var: float  # USD loss, positive
    cvar: float  # USD, expected loss beyond the VaR


def historical_var(pnl: np.ndarray, confidence: float, horizon: int = 1) -> VaR:
    """From the portfolio's P&L history (n periods, sorted ascending x₁ ≤ … ≤ xₙ): with k = ⌈n(1 − α)⌉,
    VaR = −x_k (the empirical quantile, no interpolation between observed losses) and CVaR = −mean(x₁…x_k)."""
    pnl = np.sort(np.asarray(pnl, dtype=float))
    k = max(int(np.ceil(round(len(pnl) * (1.0 - confidence), 9))), 1)  # round: 1000 × 0.01 is 10.000000000000002
    scale = np.sqrt(horizon)
    return VaR("historical", confidence, horizon, float(-pnl[k - 1] * scale), float(-pnl[:k].mean() * scale))


def _normal(method: str, sigma: float, mean: float, confidence: float, horizon: int) -> VaR:
    z = stats.norm.ppf(confidence)
    scale = np.sqrt(horizon)
    var = z * sigma * scale - mean * horizon
    cvar = sigma * scale * stats.norm.pdf(z) / (1.0 - confidence) - mean * horizon
    return VaR(method, confidence, horizon, float(var), float(cvar))


def parametric_var(returns: np.ndarray, exposures: np.ndarray, confidence: float, horizon: int = 1,
                   with_mean: bool = False) -> VaR:
    """Variance–covariance: P&L ~ Normal(exposures·μ, exposuresᵀ Σ exposures) with the sample Σ (ddof=1).
    The mean is left out by default (conservative, and noisy on short histories)."""
    r = np.asarray(returns, dtype=float)
    w = np.asarray(exposures, dtype=float)
    cov = np.atleast_2d(np.cov(r, rowvar=False, ddof=1))
    sigma = float(np.sqrt(w @ cov @ w))
    mean = float(r.mean(axis=0) @ w) if with_mean else 0.0
    return _normal("parametric", sigma, mean, confidence, horizon)


def ewma_var(returns: np.ndarray, exposures: np.ndarray, confidence: float, horizon: int = 1,
             lam: float = RISKMETRICS_LAMBDA) -> VaR:
    """RiskMetrics: normal P&L with zero mean and the EWMA covariance."""
    w = np.asarray(exposures, dtype=float)
    sigma = float(np.sqrt(w @ ewma_covariance(returns, lam) @ w))
    return _normal("ewma", sigma, 0.0, confidence, horizon)


@dataclass(frozen=True)
class Backtest:
    observations: int
    exceptions: int  # losses beyond the VaR forecast for that period
    expected: float
    lr_pof: float  # Kupiec's likelihood ratio (proportion of failures), χ²(1) under a correct model
    p_value: float
    rejected: bool  # at 5 %


def kupiec(exceptions: int, observations: int, confidence: float) -> Backtest:
    """Kupiec's proportion-of-failures test: is the exception rate x/T consistent with p = 1 − α?"""
    p, x, t = 1.0 - confidence, exceptions, observations
    if t == 0:
        return Backtest(0, 0, 0.0, 0.0, 1.0, False)

    def loglik(rate: float) -> float:  # log-likelihood of x exceptions in t at `rate`, 0·log 0 = 0
        out = 0.0
        if t - x:
            out += (t - x) * np.log(1.0 - rate)
        if x:
            out += x * np.log(rate)
        return out

    lr = max(-2.0 * (loglik(p) - loglik(x / t)), 0.0)
    p_value = float(stats.chi2.sf(lr, 1))
    return Backtest(t, x, p * t, float(lr), p_value, p_value < 0.05)


def var_exceptions(pnl: np.ndarray, forecasts: np.ndarray) -> int:
    """Periods whose loss exceeded that period's VaR forecast (both aligned; a forecast of NaN is skipped)."""
    pnl, forecasts = np.asarray(pnl, dtype=float), np.asarray(forecasts, dtype=float)
    known = np.isfinite(forecasts)
    return int((-pnl[known] > forecasts[known]).sum())


@dataclass(frozen=True)
class Concentration:
    weights: dict[str, float]
    hhi: float  # Σ w², 1/n (spread evenly) … 1 (one asset)
    top: list[tuple[str, float]]  # the largest weights, descending
    clusters: list[tuple[list[str], float]]  # groups of assets correlated ≥ threshold, with their joint weight


def concentration(values: dict[str, float], corr: np.ndarray | None = None, assets: Sequence[str] = (),
                  top_n: int = 3, threshold: float = 0.8) -> Concentration:
    """Weights of absolute exposure, HHI, top-N, and clusters: assets linked by correlation ≥ threshold
    (single linkage: connected components), each with the weight it sums to."""
    gross = sum(abs(v) for v in values.values())
    weights = {a: (abs(v) / gross if gross else 0.0) for a, v in values.items()}
    hhi = float(sum(w * w for w in weights.values()))
    top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
    clusters: list[tuple[list[str], float]] = []
    if corr is not None and len(assets):
        parent = list(range(len(assets)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in range(len(assets)):
            for j in range(i + 1, len(assets)):
                if corr[i, j] >= threshold:
                    parent[root(j)] = root(i)
        groups: dict[int, list[str]] = {}
        for i, asset in enumerate(assets):
            groups.setdefault(root(i), []).append(asset)
        clusters = sorted(((sorted(g), sum(weights.get(a, 0.0) for a in g)) for g in groups.values()),
                          key=lambda c: (-c[1], c[0]))
    return Concentration(weights, hhi, top, clusters)


def correlation_shift(short: np.ndarray, long: np.ndarray) -> tuple[float, float]:
    """How far the short-window correlations moved from the long-window ones, over the distinct pairs:
    (mean absolute change, largest absolute change). A breakdown is a shift beyond a threshold."""
    n = short.shape[0]
    if n < 2:
        return 0.0, 0.0
    upper = np.triu_indices(n, k=1)
    delta = np.abs(short[upper] - long[upper])
    return float(delta.mean()), float(delta.max())


def drawdown(values: np.ndarray, window: int | None = None) -> np.ndarray:
    """Fall from the peak, as a fraction of it (0 at a new high): the running peak, or the peak of the last
    `window` periods (what a breaker wants: a fall that happened months ago should not keep it open forever)."""
    v = np.asarray(values, dtype=float)
    if window is None:
        peak = np.maximum.accumulate(v)
    else:
        peak = np.array([v[max(0, t - window + 1):t + 1].max() for t in range(len(v))]) if len(v) else v
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(peak > 0, 1.0 - v / peak, 0.0)
    return out


@dataclass(frozen=True)
class BreakerRules:
    trip_volatility: float = 1.20  # annualised volatility at or above which trading stops
    trip_drawdown: float = 0.20  # fall from the peak of the last 30 days at or above which trading stops
    reset_volatility: float = 0.80  # both must be back at or below these …
    reset_drawdown: float = 0.10
    calm_periods: int = 3  # … for this many consecutive periods before it resets (hysteresis)


def circuit_breaker(volatility: Sequence[float], drawdowns: Sequence[float],
                    rules: BreakerRules = BreakerRules(), tripped: bool = False) -> list[tuple[bool, str]]:
    """The breaker's state after each period, with why it changed: it trips when volatility or drawdown
    reaches its trip level; once tripped it resets only after `calm_periods` consecutive periods with both
    at or below their (lower) reset levels, so it does not flap around one threshold."""
    states: list[tuple[bool, str]] = []
    calm = 0
    for vol, dd in zip(volatility, drawdowns, strict=True):
        vol_known, dd_known = vol == vol, dd == dd  # NaN (not enough history yet) never trips or resets
        if not tripped:
            if vol_known and vol >= rules.trip_volatility:
                tripped, calm = True, 0
                states.append((True, f"tripped: volatility {vol:.0%} ≥ {rules.trip_volatility:.0%}"))
                continue
            if dd_known and dd >= rules.trip_drawdown:
                tripped, calm = True, 0
                states.append((True, f"tripped: drawdown {dd:.0%} ≥ {rules.trip_drawdown:.0%}"))
                continue
            states.append((False, ""))
            continue
        if vol_known and dd_known and vol <= rules.reset_volatility and dd <= rules.reset_drawdown:
            calm += 1
        else:
            calm = 0
        if calm >= rules.calm_periods:
            tripped, calm = False, 0
            states.append((False, f"reset: {rules.calm_periods} calm periods"))
        else:
            states.append((True, ""))
    return states


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
    breaker: BreakerRules = BreakerRules()


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
                     backtest_window: int = 250, estimation_days: int | None = None) -> PortfolioRisk:
    """Every risk figure of one portfolio from aligned daily returns (rows: days, oldest first; columns:
    `assets`) and its current USD exposures; `values` are all holdings by asset (cash included) for the
    concentration. VaR is estimated on the last `estimation_days` (None: all); the backtest runs over the
    whole history given. The alerts say what crosses `limits`."""
    r_all = np.asarray(returns, dtype=float)
    r = r_all[-estimation_days:] if estimation_days else r_all
    w = np.asarray(exposures, dtype=float)
    pnl = r @ w
    value = float(sum(abs(v) for v in values.values()))
    var = [f(c, h) for c in (0.95, 0.99) for h in (1, 10) for f in (
        lambda c, h: historical_var(pnl, c, h), lambda c, h: parametric_var(r, w, c, h),
        lambda c, h: ewma_var(r, w, c, h))]
    # backtest: each day's P&L over the whole history against the historical 1-day 99 % VaR of the
    # `backtest_window` days before it
    pnl_all = r_all @ w
    forecasts = np.full(len(pnl_all), np.nan)
    for t in range(backtest_window, len(pnl_all)):
        forecasts[t] = historical_var(pnl_all[t - backtest_window:t], 0.99).var
    known = int(np.isfinite(forecasts).sum())
    test = kupiec(var_exceptions(pnl_all, forecasts), known, 0.99)
    # the short window against the long window *before* it: a regime change inside the long window would
    # otherwise drag the baseline along with it (30 stressed days dominate a 90-day correlation)
    baseline = r[-(long + short):-short] if len(r) > short else r
    corr_short, corr_long = correlation(r[-short:]), correlation(baseline)
    shift = correlation_shift(corr_short, corr_long)
    vol_short = r[-short:].std(axis=0, ddof=1) * np.sqrt(365)
    vol_long = baseline.std(axis=0, ddof=1) * np.sqrt(365)
    volatility = {a: (float(vol_short[i]), float(vol_long[i])) for i, a in enumerate(assets)}
    conc = concentration(values, corr_long, assets, threshold=limits.cluster_correlation)
    index = np.cumprod(1.0 + r, axis=0) @ w  # the portfolio's value path holding today's exposures throughout
    port_vol = rolling_volatility(pnl / value if value else pnl * 0, short)[:, 0]
    breaker = circuit_breaker(list(port_vol), list(drawdown(index, short)), limits.breaker)
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
    return PortfolioRisk(list(assets), w, value, var, test, corr_short, corr_long, shift, volatility, conc,
                         breaker, alerts)
