"""The market-data jobs: every venue's tickers and candles (the nightly tier's market data, and every hour), the
tickers alone (the fast tier's), and one tick file. Selected by tag, so they exist before the venues are known."""

import dagster as dg

from pipelines.defs.prices.assets import MARKET_TAG, raw_price_ticks

TICKERS = dg.AssetSelection.tag(MARKET_TAG, "tickers")
CANDLES = dg.AssetSelection.tag(MARKET_TAG, "candles")

market_data_job = dg.define_asset_job(
    "market_data", selection=(TICKERS | CANDLES).without_checks(),
    description="Tickers, daily candles and the last day's minute candles of every venue, nothing else (no gate, "
                "no models).")
tickers_refresh_job = dg.define_asset_job(
    "tickers_refresh", selection=TICKERS.without_checks(),
    description="The latest tickers of every venue (one batched call per venue), nothing else.")
tick_load_job = dg.define_asset_job(
    "tick_load", selection=dg.AssetSelection.assets(raw_price_ticks),
    description="Load one file of price ticks (launched by the tick_inbox sensor, one run per file).")
MARKET_JOBS = {job.name: job for job in (market_data_job, tickers_refresh_job)}
