"""Portfolio risk: daily returns (marts.asset_returns) and positions in, the risk tables (derived.risk_*) and the
risk alerts (ops.alerts) out; marts/risk read the tables. The maths is pipelines/domain/risk.py; this reads,
aligns the returns, and writes.

Returns: marts.asset_returns, the one definition of returns (simple returns of the daily reference close,
a gap of up to 3 days carried forward; see that model). Volatilities: each asset's own series, by
domain.risk.recent_and_prior_volatility, the formula marts.rolling_volatility computes in SQL.
A portfolio's exposures are its positions' USD values per priced asset (stETH as ETH; borrowed negative); USD
and its stablecoins are cash (no return), kept in the concentration weights. Every figure uses the last
`HISTORY_DAYS` days on which all the portfolio's assets have a price; the VaR backtest uses all of them.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from pipelines.domain.alerts import Alert
from pipelines.domain.portfolio_risk import PortfolioRisk, RiskLimits, assess_portfolio
from pipelines.domain.risk import BreakerRules, recent_and_prior_volatility
from warehouse.alerts import sync_alerts
from warehouse.connection import Warehouse
from warehouse.derived import replace_tables

HISTORY_DAYS = 400
MIN_DAYS = 120  # fewer aligned days than this: no risk figures (said in the run's metadata)
RISK_KINDS = ("var_limit", "concentration_limit", "correlation_breakdown", "volatility_spike", "circuit_breaker")
TABLES = ("risk_var", "risk_backtest", "risk_correlations", "risk_assets", "risk_portfolios")
CENT = Decimal("0.01")


def limits_from_row(row: dict[str, Any]) -> RiskLimits:
    """ops.risk_limits row → RiskLimits; null columns keep the defaults."""
    base, rules = RiskLimits(), BreakerRules()

    def pick(column: str, default: float) -> float:
        value = row.get(column)
        return default if value is None else float(value)

    breaker = BreakerRules(pick("breaker_trip_volatility", rules.trip_volatility),
                           pick("breaker_trip_drawdown", rules.trip_drawdown),
                           pick("breaker_reset_volatility", rules.reset_volatility),
                           pick("breaker_reset_drawdown", rules.reset_drawdown),
                           int(pick("breaker_calm_days", rules.calm_periods)))
    return RiskLimits(pick("var_99_1d_share", base.var_99_1d_share), pick("hhi", base.hhi),
                      pick("cluster_weight", base.cluster_weight),
                      pick("cluster_correlation", base.cluster_correlation),
                      pick("correlation_shift", base.correlation_shift),
                      pick("volatility_spike", base.volatility_spike), breaker)


RETURNS_SQL = """
select asset, cast(period_start at time zone 'UTC' as date) as day, simple_return
from marts.asset_returns where frequency = 'daily'
"""


def returns_matrix(returns: pd.DataFrame) -> pd.DataFrame:
    """(asset, day, simple_return) rows of marts.asset_returns → days × assets (NaN where an asset has none)."""
    if returns.empty:
        return pd.DataFrame()
    matrix = returns.pivot(index="day", columns="asset", values="simple_return").astype(float)
    matrix.index = pd.to_datetime(matrix.index)
    return matrix.sort_index()


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT)


def risk_rows(tenant: str, portfolio: str, as_of: date, risk: PortfolioRisk, observations: int,
              run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    value = _money(risk.value)
    n = len(risk.assets)
    upper = [(i, j) for i in range(n) for j in range(i + 1, n)]
    since, reason = None, None
    if risk.breaker and risk.breaker[-1][0]:  # open: since the day it tripped, and why
        for back, (tripped, why) in enumerate(reversed(risk.breaker)):
            if tripped and why:
                since, reason = as_of - timedelta(days=back), why
                break
    return {
        "risk_var": [(tenant, portfolio, as_of, v.method, Decimal(str(v.confidence)), v.horizon, _money(v.var),
                      _money(v.cvar), None if v.var_overlapping is None else _money(v.var_overlapping),
                      None if v.cvar_overlapping is None else _money(v.cvar_overlapping), value, observations,
                      run_id) for v in risk.var],
        "risk_backtest": [(tenant, portfolio, as_of, risk.backtest.observations, risk.backtest.exceptions,
                           risk.backtest.expected, risk.backtest.lr_pof, risk.backtest.p_value,
                           risk.backtest.rejected, run_id)],
        "risk_correlations": [(tenant, portfolio, name, risk.assets[i], risk.assets[j], float(matrix[i, j]), run_id)
                              for name, matrix in (("last_30d", risk.corr_short), ("prior_90d", risk.corr_long))
                              for i, j in upper],
        "risk_assets": [(tenant, portfolio, a, _money(float(risk.exposures[i])),
                         risk.concentration.weights.get(a, 0.0), *(x if x == x else None for x in risk.volatility[a]),
                         run_id) for i, a in enumerate(risk.assets)],
        "risk_portfolios": [(tenant, portfolio, as_of, value, risk.concentration.hhi,
                             ", ".join(f"{a} {w:.0%}" for a, w in risk.concentration.top),
                             {"clusters": [{"assets": g, "weight": round(w, 6)}
                                           for g, w in risk.concentration.clusters]},
                             risk.shift[0], risk.shift[1], bool(risk.breaker and risk.breaker[-1][0]), since, reason,
                             run_id)],
    }


COLUMNS = {
    "risk_var": ("tenant_id", "portfolio_id", "as_of", "method", "confidence", "horizon_days", "var_usd", "cvar_usd",
                 "var_overlapping_usd", "cvar_overlapping_usd", "value_usd", "observations", "run_id"),
    "risk_backtest": ("tenant_id", "portfolio_id", "as_of", "observations", "exceptions", "expected", "lr_pof",
                      "p_value", "rejected", "run_id"),
    "risk_correlations": ("tenant_id", "portfolio_id", "window_name", "asset_a", "asset_b", "correlation", "run_id"),
    "risk_assets": ("tenant_id", "portfolio_id", "asset", "exposure_usd", "weight", "vol_30d", "vol_prior_90d",
                    "run_id"),
    "risk_portfolios": ("tenant_id", "portfolio_id", "as_of", "value_usd", "hhi", "top_assets", "clusters",
                        "correlation_shift", "correlation_shift_max", "breaker_open", "breaker_since",
                        "breaker_reason", "run_id"),
}


@dataclass
class RiskInputs:
    returns: pd.DataFrame  # days × priced assets
    portfolios: dict[tuple[str, str], list[tuple[str, str, Decimal]]]  # (tenant, portfolio) → (asset, priced, USD)
    cash: set[str]
    limits: dict[str, RiskLimits]


def load_inputs(conn: psycopg.Connection[Any]) -> RiskInputs:
    returns = pd.DataFrame(conn.execute(RETURNS_SQL).fetchall(), columns=["asset", "day", "simple_return"])
    portfolios: dict[tuple[str, str], list[tuple[str, str, Decimal]]] = {}
    for tenant, portfolio, asset, priced, value in conn.execute(
            """select tenant_id, portfolio_id, asset, coalesce(priced_as, asset), value_usd
               from marts.positions where value_usd is not null and value_usd <> 0"""):
        portfolios.setdefault((tenant, portfolio), []).append((asset, priced, value))
    cash = {a for (a,) in conn.execute("select asset from staging.usd_pegged_assets union "
                                       "select asset from staging.fiat_currencies")}
    cursor = conn.execute("select * from ops.risk_limits")
    names = [c.name for c in cursor.description or ()]
    limits = {row[0]: limits_from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()}
    return RiskInputs(returns_matrix(returns), portfolios, cash, limits)


def evaluate(inputs: RiskInputs, run_id: str, as_of: date | None = None) -> tuple[
        dict[str, list[tuple[Any, ...]]], list[Alert], list[str]]:
    """Every portfolio's risk rows and alerts, on the history up to `as_of` (default: all of it) with today's
    exposures. Returns (rows per table, alerts, portfolios skipped and why)."""
    returns = inputs.returns if as_of is None else inputs.returns.loc[:pd.Timestamp(as_of)]
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    alerts: list[Alert] = []
    skipped = []
    for (tenant, portfolio), holdings in sorted(inputs.portfolios.items()):
        values: dict[str, float] = {}
        exposure: dict[str, float] = {}
        for asset, priced, value in holdings:
            values[asset] = values.get(asset, 0.0) + float(value)
            if priced not in inputs.cash:
                exposure[priced] = exposure.get(priced, 0.0) + float(value)
        assets = sorted(a for a in exposure if a in returns.columns)
        aligned = returns[assets].dropna() if assets else pd.DataFrame()
        if len(aligned) < MIN_DAYS:
            skipped.append(f"{tenant}/{portfolio}: {len(aligned)} aligned days")
            continue
        # VaR on the last HISTORY_DAYS; the backtest over every aligned day; each asset's volatility from its own
        # returns up to that day (what marts.rolling_volatility shows for it)
        as_of = aligned.index.max()
        volatility = {a: recent_and_prior_volatility(returns[a].loc[:as_of].dropna().to_numpy()) for a in assets}
        risk = assess_portfolio(aligned.to_numpy(), assets, np.array([exposure[a] for a in assets]), values,
                                inputs.limits.get(tenant, RiskLimits()), estimation_days=HISTORY_DAYS,
                                volatility=volatility)
        for table, table_rows in risk_rows(tenant, portfolio, aligned.index.max().date(), risk,
                                           min(len(aligned), HISTORY_DAYS), run_id).items():
            rows[table].extend(table_rows)
        alerts += [Alert(tenant, kind, severity, f"{portfolio}:{subject}", message, {"portfolio_id": portfolio})
                   for kind, severity, subject, message in risk.alerts]
    return rows, alerts, skipped


def assess_risk(wh: Warehouse, run_id: str, now: datetime | None = None) -> tuple[dict[str, int], dict[str, Any]]:
    """Every portfolio's risk figures into derived.risk_* (replaced whole) and its risk alerts raised or resolved.
    Returns (rows per table, a summary: portfolios, skipped, alerts open and resolved)."""
    with wh.connect() as conn:
        inputs = load_inputs(conn)
    rows, alerts, skipped = evaluate(inputs, run_id)
    replace_tables(wh, COLUMNS, rows)
    open_alerts, resolved = sync_alerts(wh, RISK_KINDS, alerts, now or datetime.now(UTC))
    return {t: len(rows[t]) for t in TABLES}, {"portfolios": len(rows["risk_portfolios"]),
                                                "skipped": ", ".join(skipped) or "none",
                                                "alerts_open": open_alerts, "alerts_resolved": resolved}
