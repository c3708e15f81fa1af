"""Risk maths (pipelines/domain/risk.py) against independent computations on the same returns: pandas for
correlations, scipy for the normal and χ² distributions and for the expected-shortfall integral, explicit loops
for EWMA and the empirical quantile; plus hand-worked cases for concentration, drawdown and the breaker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from pipelines.domain import portfolio_risk, risk


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
