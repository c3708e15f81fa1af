"""Risk maths on returns: volatility, correlation, VaR and CVaR (historical, parametric, EWMA), the Kupiec
backtest, concentration, correlation breakdown, drawdown and the volatility circuit breaker.

Pure (numpy/scipy, no I/O). Statistics are floats (DESIGN: floats are fine for statistics, never for money);
exposures come in as USD values and VaR/CVaR go out as USD losses (positive numbers), which the caller rounds
to cents before storing. Conventions:
- returns are simple returns r_t = p_t / p_{t−1} − 1, one row per period, one column per asset (the warehouse's
  marts.asset_returns computes them: the one definition of returns; README "Returns");
- volatility is the annualised sample standard deviation of those returns (`annualised_volatility`), the same
  formula marts.rolling_volatility computes in SQL;
- a portfolio's P&L for a period is exposures · r (linear in the exposures: what a position of value v gains);
- VaR_α is the loss not exceeded with probability α (0.95, 0.99), CVaR_α (expected shortfall) the mean loss
  beyond it. Historical: VaR is the ⌈n(1 − α)⌉-th worst loss; CVaR the mean of the worst n(1 − α) losses, the
  boundary loss weighted by the fraction of it inside the tail when n(1 − α) is not whole (Acerbi–Tasche: the
  empirical distribution's expected shortfall, not biased low on short windows);
- horizons of h periods scale the 1-period figure by √h (square-root-of-time, for every method alike). That
  assumes independent returns; crypto's are not (trends, volatility clusters), so the historical method also
  gives the figures of the overlapping h-period windows of the history itself (`horizon_pnl`), unscaled;
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


def annualised_volatility(returns: np.ndarray, periods_per_year: int = 365) -> np.ndarray | float:
    """The sample standard deviation (ddof=1) of the returns per column, × √(periods per year): the one
    definition of volatility (marts.rolling_volatility computes the same in SQL)."""
    return np.asarray(returns, dtype=float).std(axis=0, ddof=1) * np.sqrt(periods_per_year)


def rolling_volatility(returns: np.ndarray, window: int, periods_per_year: int = 365) -> np.ndarray:
    """`annualised_volatility` over each trailing window, per column; NaN until a window is full."""
    r = np.atleast_2d(np.asarray(returns, dtype=float).T).T
    out = np.full(r.shape, np.nan)
    for end in range(window, r.shape[0] + 1):
        out[end - 1] = annualised_volatility(r[end - window:end], periods_per_year)
    return out


def recent_and_prior_volatility(returns: np.ndarray, short: int = 30, long: int = 90) -> tuple[float, float]:
    """One asset's volatility over its last `short` returns and over the `long` returns before them (what a
    volatility spike compares): the figures marts.rolling_volatility shows as volatility_30d and
    volatility_prior_90d on the same day."""
    r = np.asarray(returns, dtype=float)
    baseline = r[-(long + short):-short] if len(r) > short else r
    return float(annualised_volatility(r[-short:])), float(annualised_volatility(baseline))


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
    # historical, horizon > 1: the same from the overlapping h-period windows of the history (not √h-scaled)
    var_overlapping: float | None = None
    cvar_overlapping: float | None = None


def _tail(pnl: np.ndarray, confidence: float) -> tuple[float, float]:
    """(VaR, CVaR) of a P&L sample as positive losses. With x₁ ≤ … ≤ xₙ, m = n(1 − α) and k = ⌈m⌉: VaR = −x_k;
    CVaR = −(x₁ + … + x_{k−1} + (m − (k − 1)) x_k) / m: Acerbi & Tasche's expected shortfall (On the coherence of
    expected shortfall, J. Banking & Finance 26, 2002), −(E[X 1{X ≤ x_(β)}] − x_(β)(P[X ≤ x_(β)] − β)) / β with
    β = 1 − α, of the sample's distribution: the worst m observations, the k-th only in part. When m is whole it is
    the mean of the m worst; when it is not, the plain mean of the k worst gives the boundary loss — the smallest
    of them — a whole weight and understates the tail."""
    x = np.sort(np.asarray(pnl, dtype=float))
    m = round(len(x) * (1.0 - confidence), 9)  # round: 1000 × 0.01 is 10.000000000000002
    k = max(int(np.ceil(m)), 1)
    var = float(-x[k - 1])
    if m < 1:  # less than one observation in the tail: the worst one is all there is
        return var, float(-x[0])
    return var, float(-(x[:k - 1].sum() + (m - (k - 1)) * x[k - 1]) / m)


def horizon_pnl(returns: np.ndarray, exposures: np.ndarray, horizon: int) -> np.ndarray:
    """The P&L of holding `exposures` through each overlapping window of `horizon` periods in the history (n − h
    + 1 windows, one starting at each period): Σ_assets exposure × (Π (1 + r) over the window − 1)."""
    r = np.atleast_2d(np.asarray(returns, dtype=float).T).T
    growth = np.vstack([np.zeros(r.shape[1]), np.cumsum(np.log1p(r), axis=0)])  # log of the compounded value
    windows = np.expm1(growth[horizon:] - growth[:-horizon])
    return windows @ np.asarray(exposures, dtype=float)


def historical_var(pnl: np.ndarray, confidence: float, horizon: int = 1,
                   windows: np.ndarray | None = None) -> VaR:
    """From the portfolio's 1-period P&L history (`_tail`: the empirical quantile, no interpolation between
    observed losses, and its expected shortfall), × √horizon; with `windows`, the P&L of the overlapping
    horizon-period windows (`horizon_pnl`), the same figures from those, unscaled."""
    var, cvar = _tail(pnl, confidence)
    scale = float(np.sqrt(horizon))  # a float, not np.float64: callers write the figures with repr()
    if windows is None or not len(windows):
        return VaR("historical", confidence, horizon, var * scale, cvar * scale)
    return VaR("historical", confidence, horizon, var * scale, cvar * scale, *_tail(windows, confidence))


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
