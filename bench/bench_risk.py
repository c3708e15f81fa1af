"""Risk at scale (issue 6's benchmark): 500 assets × 3 years of daily prices, one portfolio holding all of them.

    .venv/bin/python -m bench.bench_risk [assets] [days]        (default 500 × 1,095)

Runs what the portfolio_risk asset runs, timed per step: the returns matrix from long-format daily closes (as
int_prices_daily gives them), every risk figure (pipelines/assets/risk.evaluate → assess_portfolio: VaR/CVaR by
three methods × 2 confidences × 2 horizons, the rolling Kupiec backtest, correlations last 30 days and the 90
before, volatilities, concentration, breaker), and writing the derived.risk_* rows into a scratch database of the
private warehouse (the same COPY loader). Prices: a one-factor model (market + idiosyncratic) with a stressed
last month, so the correlation alerts have something to find.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg

from pipelines.assets.risk import COLUMNS, TABLES, RiskInputs, daily_returns, evaluate
from pipelines.domain.risk import RiskLimits


def closes(assets: int, days: int, seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    beta = rng.uniform(0.5, 1.5, assets)
    market = rng.normal(0.0003, 0.025, days)
    market[-30:] *= 3  # a stressed last month: the market factor dominates, correlations jump
    noise = rng.normal(0, 0.03, (days, assets))
    paths = 100 * np.exp(np.cumsum(market[:, None] * beta + noise, axis=0))
    start = date(2023, 1, 1)
    return pd.DataFrame({
        "asset": np.tile([f"A{i:03d}" for i in range(assets)], days),
        "price_date": np.repeat([start + timedelta(days=d) for d in range(days)], assets),
        "close_usd": [Decimal(f"{p:.8f}") for p in paths.ravel()],
    })


def main(assets: int = 500, days: int = 1_095) -> None:
    from pipelines.settings import get_settings
    from warehouse.cluster import LocalCluster
    from warehouse.loader import copy_insert
    from warehouse.migrate import apply_migrations

    frame = closes(assets, days)
    rng = np.random.default_rng(1)
    holdings = [(f"A{i:03d}", f"A{i:03d}", Decimal(int(rng.integers(1_000, 100_000)))) for i in range(assets)]
    holdings.append(("USDT", "USDT", Decimal(250_000)))
    print(f"{assets} assets × {days} days = {len(frame):,} daily closes; one portfolio holding every asset")
    timings: list[tuple[str, float, int]] = []

    started = time.perf_counter()
    returns = daily_returns(frame)
    timings.append(("returns matrix", time.perf_counter() - started, returns.size))
    inputs = RiskInputs(returns, {("bench", "all"): holdings}, {"USDT", "USD"}, {"bench": RiskLimits()})

    started = time.perf_counter()
    rows, alerts, skipped = evaluate(inputs, "bench")
    timings.append(("risk figures (evaluate)", time.perf_counter() - started, sum(len(r) for r in rows.values())))
    assert not skipped, skipped

    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    name = f"bench_risk_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    try:
        apply_migrations(cluster.url(name))
        started = time.perf_counter()
        with psycopg.connect(cluster.url(name)) as conn, conn.transaction():
            for table in TABLES:
                copy_insert(conn, f"derived.{table}", COLUMNS[table], rows[table])
        timings.append(("write derived.risk_* (COPY)", time.perf_counter() - started,
                        sum(len(r) for r in rows.values())))
    finally:
        cluster.drop_database(name)

    print(f"{'step':<30} {'seconds':>8} {'values/rows':>12}")
    for step, seconds, count in timings:
        print(f"{step:<30} {seconds:>8.2f} {count:>12,}")
    total = sum(seconds for _, seconds, _ in timings)
    print(f"{'all risk marts':<30} {total:>8.2f}   (target ≤ 10 s)")
    print("alerts:", ", ".join(sorted({a.kind for a in alerts})) or "none")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
