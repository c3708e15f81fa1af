"""Risk maths (pipelines/domain/risk.py) against independent computations on the same returns: pandas for
correlations, scipy for the normal and χ² distributions and for the expected-shortfall integral, explicit loops
for EWMA and the empirical quantile; plus hand-worked cases for concentration, drawdown and the breaker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from pipelines.domain import portfolio_risk, risk
from pipelines.services.risk import risk_rows


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    rng = np.random.default_rng(7)
    cov = np.array([[0.0016, 0.0012, 0.0004], [0.0012, 0.0025, 0.0005], [0.0004, 0.0005, 0.0009]])
    return rng.multivariate_normal([0.001, 0.0005, 0.0], cov, size=1000)


EXPOSURES = np.array([500_000.0, 250_000.0, 100_000.0])  # USD in each asset


def test_correlation_matches_pandas(returns: np.ndarray) -> None:
    expected = pd.DataFrame(returns).corr().to_numpy()
    assert np.allclose(risk.correlation(returns), expected, atol=1e-12)
    flat = np.column_stack([returns[:, 0], np.zeros(len(returns))])
    assert risk.correlation(flat)[0, 1] == 0.0  # an asset that never moved correlates with nothing


def test_rolling_volatility_matches_pandas(returns: np.ndarray) -> None:
    expected = pd.DataFrame(returns).rolling(30).std(ddof=1).to_numpy() * np.sqrt(365)
    got = risk.rolling_volatility(returns, 30)
    assert np.isnan(got[:29]).all() and np.allclose(got[29:], expected[29:], rtol=1e-10)


def test_historical_var_and_cvar_are_the_empirical_tail(returns: np.ndarray) -> None:
    pnl = returns @ EXPOSURES
    for confidence, tail in ((0.95, 50), (0.99, 10)):  # 1,000 days: the 50 and the 10 worst
        worst = sorted(pnl)[:tail]
        result = risk.historical_var(pnl, confidence)
        assert result.var == pytest.approx(-worst[-1])
        assert result.cvar == pytest.approx(-sum(worst) / tail)
        ten_day = risk.historical_var(pnl, confidence, horizon=10)
        assert ten_day.var == pytest.approx(result.var * np.sqrt(10))
        assert result.cvar >= result.var > 0


def tail_by_integral(pnl: np.ndarray, tail_percent: int) -> tuple[float, float]:
    """The independent reference: VaR and expected shortfall of the sample's distribution at a tail of
    `tail_percent` % (β), from its quantile function q(u) = x_⌈nu⌉ (x sorted ascending): VaR = −q(β), the k-th
    worst with k = ⌈nβ⌉ counted in integers; ES = −(1/β) ∫₀^β q(u) du, integrated exactly piece by piece
    (x_i holds on ((i − 1)/n, i/n], so it weighs the length of that interval inside (0, β])."""
    x, n = np.sort(pnl), len(pnl)
    k = max(-(-n * tail_percent // 100), 1)
    beta = tail_percent / 100
    upper = np.minimum(np.arange(1, n + 1) / n, beta)
    weight = np.clip(upper - np.arange(n) / n, 0.0, None)
    return float(-x[k - 1]), float(-(x * weight).sum() / beta)


def test_historical_cvar_weights_the_boundary_loss() -> None:
    """150 days, two big losses (10 and 8), the rest small: at 99 % the tail holds n(1 − α) = 1.5 days, the
    worst one and half of the second, so CVaR = (10 + 0.5 × 8) / 1.5 = 9.33; the mean of the two worst (9) would
    understate it. VaR is the 2nd worst, 8. At 95 % (7.5 days): (10 + 8 + 5 × 1 + 0.5 × 1) / 7.5 = 3.13."""
    pnl = np.array([-10.0, -8.0] + [-1.0, 1.0] * 74)
    at_99, at_95 = risk.historical_var(pnl, 0.99), risk.historical_var(pnl, 0.95)
    assert (at_99.var, at_99.cvar) == pytest.approx((8.0, 14.0 / 1.5))
    assert (at_95.var, at_95.cvar) == pytest.approx((1.0, 23.5 / 7.5))


@pytest.mark.parametrize("days", [120, 150, 250, 333, 399, 400, 1000])
def test_historical_var_and_cvar_match_the_quantile_integral(returns: np.ndarray, days: int) -> None:
    """Short windows (n(1 − α) not whole: 1.2, 1.5, 2.5, 3.33, 3.99 days at 99 %) and whole ones (4, 10)."""
    pnl = returns[-days:] @ EXPOSURES
    for confidence, tail_percent in ((0.95, 5), (0.99, 1)):
        result = risk.historical_var(pnl, confidence)
        assert (result.var, result.cvar) == pytest.approx(tail_by_integral(pnl, tail_percent), rel=1e-12)


def test_ten_day_var_from_overlapping_windows(returns: np.ndarray) -> None:
    """The 10-day figures beside the √10-scaled ones: each 10-day window's P&L of the exposures held through it
    (compounded returns, computed here window by window), then the same tail as for one day."""
    r = returns[-250:]
    windows = np.array([(np.prod(1 + r[t:t + 10], axis=0) - 1) @ EXPOSURES for t in range(len(r) - 9)])
    assert np.allclose(risk.horizon_pnl(r, EXPOSURES, 10), windows, rtol=1e-10)
    for confidence, tail_percent in ((0.95, 5), (0.99, 1)):
        result = risk.historical_var(r @ EXPOSURES, confidence, 10, risk.horizon_pnl(r, EXPOSURES, 10))
        one_day = risk.historical_var(r @ EXPOSURES, confidence)
        assert (result.var, result.cvar) == pytest.approx((one_day.var * np.sqrt(10), one_day.cvar * np.sqrt(10)))
        assert (result.var_overlapping, result.cvar_overlapping) == pytest.approx(
            tail_by_integral(windows, tail_percent), rel=1e-12)  # 241 windows: 2.41 of them in the 99 % tail


def test_trending_returns_make_the_overlapping_figure_exceed_the_scaled_one() -> None:
    """Returns that follow through (AR(1), φ = 0.3, as crypto trends do): a 10-day move is wider than √10 daily
    moves, and the overlapping windows show it — the √10-scaled figure understates the risk. With independent
    returns the two agree within sampling error."""
    rng = np.random.default_rng(11)
    shocks = rng.normal(0, 0.005, 4000)  # small moves: the point is the autocorrelation, not the compounding
    trending = np.empty_like(shocks)
    trending[0] = shocks[0]
    for t in range(1, len(shocks)):
        trending[t] = 0.3 * trending[t - 1] + shocks[t]
    for series, low, high in ((trending, 1.15, 1.5), (shocks, 0.85, 1.15)):  # √1.73 = 1.32 expected, and 1
        r, w = series[:, None], np.array([1_000_000.0])
        ten = risk.historical_var(r @ w, 0.99, 10, risk.horizon_pnl(r, w, 10))
        assert low < ten.var_overlapping / ten.var < high


def test_the_portfolio_reports_both_ten_day_figures(returns: np.ndarray) -> None:
    assets, values = ["A", "B", "C"], dict(zip("ABC", EXPOSURES, strict=True))
    result = portfolio_risk.assess_portfolio(returns[-400:], assets, EXPOSURES, values)
    overlapping = {(v.method, v.confidence, v.horizon) for v in result.var if v.var_overlapping is not None}
    assert overlapping == {("historical", 0.95, 10), ("historical", 0.99, 10)}
    ten = next(v for v in result.var if (v.method, v.confidence, v.horizon) == ("historical", 0.99, 10))
    assert ten.var_overlapping == pytest.approx(-np.sort(risk.horizon_pnl(returns[-400:], EXPOSURES, 10))[3])
    # as the risk asset writes them (derived.risk_var): cents, null where there is no overlapping figure
    rows = risk_rows("acme", "main", date(2026, 1, 1), result, 400, "run")["risk_var"]
    written = {(row[3], row[5], row[4]): row[6:10] for row in rows}
    assert written[("historical", 10, Decimal("0.99"))] == tuple(
        Decimal(repr(x)).quantize(Decimal("0.01")) for x in (ten.var, ten.cvar, ten.var_overlapping,
                                                              ten.cvar_overlapping))
    assert all((over is None) == (key[:2] != ("historical", 10)) for key, (*_, over, _c) in written.items())


def test_parametric_var_and_cvar_match_scipy(returns: np.ndarray) -> None:
    sigma = float(np.std(returns @ EXPOSURES, ddof=1))  # the portfolio's own P&L spread = √(wᵀΣw)
    for confidence in (0.95, 0.99):
        result = risk.parametric_var(returns, EXPOSURES, confidence)
        assert result.var == pytest.approx(stats.norm(0, sigma).ppf(confidence))
        # expected shortfall as the integral of the loss density beyond the VaR
        tail, _ = integrate.quad(lambda x, s=sigma: x * stats.norm(0, s).pdf(x), result.var, np.inf)
        assert result.cvar == pytest.approx(tail / (1 - confidence), rel=1e-6)
        assert risk.parametric_var(returns, EXPOSURES, confidence, horizon=10).var == pytest.approx(
            result.var * np.sqrt(10))


def test_ewma_follows_the_riskmetrics_recursion(returns: np.ndarray) -> None:
    cov = np.outer(returns[0], returns[0])
    for t in range(1, len(returns)):
        cov = 0.94 * cov + 0.06 * np.outer(returns[t], returns[t])
    assert np.allclose(risk.ewma_covariance(returns), cov, rtol=1e-12)
    sigma = np.sqrt(EXPOSURES @ cov @ EXPOSURES)
    assert risk.ewma_var(returns, EXPOSURES, 0.99).var == pytest.approx(stats.norm.ppf(0.99) * sigma)


def test_kupiec_matches_the_textbook_likelihood_ratio() -> None:
    x, t, p = 17, 500, 0.01
    lr = -2 * np.log(((1 - p) ** (t - x) * p**x) / ((1 - x / t) ** (t - x) * (x / t) ** x))
    result = risk.kupiec(x, t, 0.99)
    assert result.lr_pof == pytest.approx(lr) and result.p_value == pytest.approx(1 - stats.chi2.cdf(lr, 1))
    assert result.rejected  # 17 exceptions where 5 were expected
    assert not risk.kupiec(5, 500, 0.99).rejected
    assert risk.kupiec(0, 250, 0.99).lr_pof == pytest.approx(-2 * 250 * np.log(0.99))


def test_var_exceptions_count_losses_beyond_each_days_forecast() -> None:
    assert risk.var_exceptions(np.array([-5.0, -12.0, 3.0, -20.0]), np.array([10.0, 10.0, 10.0, np.nan])) == 1


def test_concentration_weights_hhi_top_and_correlated_clusters() -> None:
    corr = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    result = risk.concentration({"BTC": 600.0, "ETH": 300.0, "SOL": -100.0}, corr, ["BTC", "ETH", "SOL"], top_n=2)
    assert result.weights == pytest.approx({"BTC": 0.6, "ETH": 0.3, "SOL": 0.1})
    assert result.hhi == pytest.approx(0.36 + 0.09 + 0.01)
    assert result.top == [("BTC", 0.6), ("ETH", 0.3)]
    assert [(group, round(w, 9)) for group, w in result.clusters] == [(["BTC", "ETH"], 0.9), (["SOL"], 0.1)]


def test_correlation_shift_and_drawdown() -> None:
    calm = np.array([[1.0, 0.2], [0.2, 1.0]])
    stressed = np.array([[1.0, 0.9], [0.9, 1.0]])
    assert risk.correlation_shift(stressed, calm) == pytest.approx((0.7, 0.7))
    assert risk.drawdown(np.array([100.0, 120.0, 90.0, 130.0])) == pytest.approx([0.0, 0.0, 0.25, 0.0])


def test_the_breaker_trips_and_resets_only_after_calm_periods() -> None:
    rules = risk.BreakerRules(trip_volatility=1.0, trip_drawdown=0.2, reset_volatility=0.6, reset_drawdown=0.1,
                              calm_periods=2)
    vol = [0.5, 1.1, 0.9, 0.5, 0.7, 0.5, 0.5, 0.5]
    dd = [0.0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.25]
    states = [tripped for tripped, _ in risk.circuit_breaker(vol, dd, rules)]
    # trips at 1.1; 0.9 and 0.7 are below the trip level but above the reset level: still tripped; two calm
    # periods (0.5, 0.5) reset it; a 25 % drawdown trips it again
    assert states == [False, True, True, True, True, True, False, True]


def _regime(stressed: bool, days: int = 400, seed: int = 3) -> np.ndarray:
    """Three assets, mildly correlated; in the stressed regime the last 30 days move together, and harder."""
    rng = np.random.default_rng(seed)
    calm = rng.multivariate_normal([0, 0, 0], np.array([[1, 0.2, 0.1], [0.2, 1, 0.15], [0.1, 0.15, 1]]) * 4e-4,
                                   size=days)
    if stressed:
        common = rng.normal(0, 0.06, 30)
        calm[-30:] = common[:, None] + rng.normal(0, 0.005, (30, 3))
    return calm


def test_the_breakdown_alert_fires_in_stress_and_not_in_calm() -> None:
    assets, exposures = ["BTC", "ETH", "SOL"], np.array([400_000.0, 300_000.0, 300_000.0])
    values = {"BTC": 400_000.0, "ETH": 300_000.0, "SOL": 300_000.0, "USDT": 200_000.0}
    calm = portfolio_risk.assess_portfolio(_regime(False), assets, exposures, values)
    stressed = portfolio_risk.assess_portfolio(_regime(True), assets, exposures, values)
    kinds = lambda result: {kind for kind, *_ in result.alerts}  # noqa: E731
    assert "correlation_breakdown" not in kinds(calm) and "circuit_breaker" not in kinds(calm)
    assert {"correlation_breakdown", "volatility_spike"} <= kinds(stressed)
    assert stressed.shift[0] > portfolio_risk.RiskLimits().correlation_shift > calm.shift[0]
    one_day = {(v.method, v.confidence, v.horizon): v.var for v in stressed.var}
    assert len(one_day) == 12 and all(v > 0 for v in one_day.values())
    assert calm.backtest.observations == 400 - 250


def test_a_windowed_drawdown_forgets_old_peaks() -> None:
    values = np.array([100.0, 80.0, 80.0, 80.0, 80.0])
    assert risk.drawdown(values) == pytest.approx([0, 0.2, 0.2, 0.2, 0.2])
    assert risk.drawdown(values, window=3) == pytest.approx([0, 0.2, 0.2, 0.0, 0.0])


def test_var_on_the_estimation_window_and_the_backtest_over_the_whole_history(returns: np.ndarray) -> None:
    """1,000 days, VaR estimated on the last 400: the VaR figures are those of the last 400 days alone; the
    backtest forecasts each of the 750 days after the first 250 and counts the exceptions, checked here by an
    explicit loop with numpy's empirical quantile."""
    assets, values = ["A", "B", "C"], dict(zip("ABC", EXPOSURES, strict=True))
    whole = portfolio_risk.assess_portfolio(returns, assets, EXPOSURES, values, estimation_days=400)
    last = portfolio_risk.assess_portfolio(returns[-400:], assets, EXPOSURES, values)
    assert [(v.method, v.var, v.cvar) for v in whole.var] == [(v.method, v.var, v.cvar) for v in last.var]
    pnl = returns @ EXPOSURES
    exceptions = sum(-pnl[t] > -np.quantile(pnl[t - 250:t], 0.01, method="inverted_cdf") for t in range(250, 1000))
    assert whole.backtest.observations == 750 and last.backtest.observations == 150
    assert whole.backtest.exceptions == exceptions
