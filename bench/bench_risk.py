"""Risk at scale (issue 6's benchmark): 500 assets × 3 years of daily prices, one portfolio holding all of them.

    .venv/bin/python -m bench.bench_risk [assets] [days]        (default 500 × 1,095)

In a scratch database of the private warehouse, the relations the risk models read (int_prices_daily,
int_prices_minute with a day of minutes per asset, positions, the USD pegs) are loaded as tables first, untimed.
Then, timed per step, what a nightly run does: dbt builds marts.asset_returns (the one definition of returns);
the portfolio_risk asset's service reads them with the positions (pipelines/services/risk.load_inputs), computes
every risk figure (evaluate → assess_portfolio: VaR/CVaR by three methods × 2 confidences × 2 horizons, the
rolling Kupiec backtest, correlations last 30 days and the 90 before, volatilities, concentration, breaker) and
writes derived.risk_* (warehouse/derived.py); then dbt builds the other SQL risk marts: portfolio_returns,
rolling_volatility, rolling_correlations, portfolio_var, var_backtest, correlations, concentration,
exposure_by_venue, circuit_breaker. Prices: a one-factor model (market + idiosyncratic) with a stressed last
month, so the correlation alerts have something to find.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from pipelines.services.risk import COLUMNS, evaluate, load_inputs
from warehouse.connection import Warehouse
from warehouse.derived import replace_tables


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


RISK_MARTS = ("asset_returns", "portfolio_returns", "rolling_volatility", "rolling_correlations", "portfolio_var",
              "var_backtest", "correlations", "concentration", "exposure_by_venue", "circuit_breaker")


def minute_prices(frame: pd.DataFrame, seed: int = 8) -> list[tuple[str, datetime, Decimal]]:
    """A day of minute prices per asset (what the 1m sync keeps), a random walk from each asset's last close."""
    rng = np.random.default_rng(seed)
    last = frame.groupby("asset")["close_usd"].last()
    start = datetime.combine(frame["price_date"].max(), datetime.min.time(), UTC)
    minutes = [start + timedelta(minutes=m) for m in range(1_440)]
    paths = np.exp(np.cumsum(rng.normal(0, 0.001, (1_440, len(last))), axis=0)) * last.astype(float).to_numpy()
    return [(asset, at, Decimal(f"{paths[m, i]:.8f}")) for i, asset in enumerate(last.index)
            for m, at in enumerate(minutes)]


def load_mart_inputs(conn: psycopg.Connection, frame: pd.DataFrame,
                     holdings: list[tuple[str, str, Decimal]]) -> None:
    """The relations the SQL risk marts read, as the dbt models upstream of them would leave them."""
    from warehouse.loader import copy_insert

    conn.execute("""
        create schema if not exists staging; create schema if not exists intermediate;
        create schema if not exists marts;
        create table staging.usd_pegged_assets (asset text);
        insert into staging.usd_pegged_assets values ('USD'), ('USDT'), ('USDC');
        create table staging.fiat_currencies (asset text);
        insert into staging.fiat_currencies values ('USD'), ('EUR');
        create table intermediate.int_prices_daily (tenant_id text default 'public', asset text, price_date date,
                                                    close_usd numeric(38, 18), primary key (asset, price_date));
        create table intermediate.int_prices_minute (tenant_id text default 'public', asset text,
                                                     price_minute timestamptz, price_usd numeric(38, 18),
                                                     primary key (asset, price_minute));
        create table marts.positions (tenant_id text, portfolio_id text, account_id text, account_kind text,
                                      venue text, protocol text, asset text, priced_as text,
                                      quantity numeric(38, 18), value_usd numeric(38, 18))""")
    copy_insert(conn, "intermediate.int_prices_daily", ("asset", "price_date", "close_usd"),
                list(frame.itertuples(index=False, name=None)))
    copy_insert(conn, "intermediate.int_prices_minute", ("asset", "price_minute", "price_usd"), minute_prices(frame))
    last = frame.groupby("asset")["close_usd"].last()
    venues = ("binance", "coinbase", "kraken", "bitfinex", "htx")
    copy_insert(conn, "marts.positions", ("tenant_id", "portfolio_id", "account_id", "account_kind", "venue", "asset",
                                          "quantity", "value_usd"),
                [("bench", "all", f"acct-{i % 5}", "exchange", venues[i % 5], asset, qty,
                  qty * (last[asset] if asset in last else Decimal(1))) for i, (asset, _, qty) in enumerate(holdings)])
    conn.execute("analyze")


def build_risk_marts(url: str, models: tuple[str, ...]) -> tuple[float, float, dict[str, float]]:
    """dbt run of SQL risk marts into the scratch database: (seconds of the whole dbt command, seconds from the
    first model's start to the last one's end, seconds per model)."""
    from pipelines.services.dbt import dbt_env, dbt_executable
    from pipelines.settings import get_settings

    project = get_settings().dbt_project_dir
    with tempfile.TemporaryDirectory() as target:  # not the project's target/: Dagster reads its manifest
        started = time.perf_counter()
        subprocess.run([dbt_executable(), "run", "--quiet", "--project-dir", str(project), "--profiles-dir",
                        str(project), "--target-path", target, "--select", *models], check=True,
                       env={**os.environ, "DO_NOT_TRACK": "1", **dbt_env(url)}, cwd=project)
        wall = time.perf_counter() - started
        results = json.loads((Path(target) / "run_results.json").read_text())["results"]
    # dbt runs the models two at a time: the marts take from the first start to the last end
    times = [datetime.fromisoformat(t[k].replace("Z", "+00:00")) for r in results for t in r["timing"]
             for k in ("started_at", "completed_at")]
    span = (max(times) - min(times)).total_seconds()
    return wall, span, {r["unique_id"].rsplit(".", 1)[-1]: r["execution_time"] for r in results}


def main(assets: int = 500, days: int = 1_095) -> None:
    from pipelines.settings import get_settings
    from warehouse.cluster import LocalCluster

    frame = closes(assets, days)
    rng = np.random.default_rng(1)
    holdings = [(f"A{i:03d}", f"A{i:03d}", Decimal(int(rng.integers(1_000, 100_000)))) for i in range(assets)]
    holdings.append(("USDT", "USDT", Decimal(250_000)))
    print(f"{assets} assets × {days} days = {len(frame):,} daily closes; one portfolio holding every asset")
    timings: list[tuple[str, float, int]] = []

    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    name = f"bench_risk_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    wh = Warehouse(cluster.url(name))
    try:
        cluster.migrate(name)
        with wh.connect() as conn, conn.transaction():
            load_mart_inputs(conn, frame, holdings)
        wall, span, per_model = build_risk_marts(wh.database_url, RISK_MARTS[:1])  # asset_returns
        started = time.perf_counter()
        with wh.connect() as conn:
            inputs = load_inputs(conn)
        timings.append(("returns + positions (read)", time.perf_counter() - started, inputs.returns.size))
        started = time.perf_counter()
        rows, alerts, skipped = evaluate(inputs, "bench")
        timings.append(("risk figures (evaluate)", time.perf_counter() - started, sum(len(r) for r in rows.values())))
        assert not skipped, skipped
        started = time.perf_counter()
        replace_tables(wh, COLUMNS, rows)
        timings.append(("write derived.risk_* (COPY)", time.perf_counter() - started,
                        sum(len(r) for r in rows.values())))
        wall_rest, span_rest, per_rest = build_risk_marts(wh.database_url, RISK_MARTS[1:])
        wall, span = wall + wall_rest, span + span_rest
        per_model.update(per_rest)
        with wh.connect() as conn:
            for model in RISK_MARTS:
                (count,) = conn.execute(f"select count(*) from marts.{model}").fetchone()
                timings.append((f"  mart {model}", per_model[model], count))
        timings.append(("SQL risk marts (dbt, 2 threads)", span, len(RISK_MARTS)))
    finally:
        if os.environ.get("COINBOOK_BENCH_KEEP"):  # to EXPLAIN the marts afterwards
            print(f"kept: {wh.database_url}")
        else:
            cluster.drop_database(name)

    print(f"{'step':<34} {'seconds':>8} {'values/rows':>12}")
    for step, seconds, count in timings:
        print(f"{step:<34} {seconds:>8.2f} {count:>12,}")
    total = sum(seconds for step, seconds, _ in timings if not step.startswith("  "))
    print(f"{'all risk marts':<34} {total:>8.2f}   (target ≤ 10 s)")
    print(f"(the SQL marts one after another: {sum(per_model.values()):.2f} s; the two dbt commands with their "
          f"start-up: {wall:.1f} s — in the pipeline that start-up is paid once for every model)")
    print("alerts:", ", ".join(sorted({a.kind for a in alerts})) or "none")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
