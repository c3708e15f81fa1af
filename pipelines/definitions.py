"""The Dagster code location: ingestion → quality gate → dbt models, with jobs, schedules and sensors."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.assets.dbt import coinbook_dbt_models
from pipelines.assets.exchanges import build_exchange_assets
from pipelines.assets.exports import influx_export
from pipelines.assets.imports import file_import_job, import_inbox_sensor, raw_file_records
from pipelines.assets.lots import tax_lots
from pipelines.assets.quality import build_gate_check
from pipelines.assets.risk import portfolio_risk, price_freshness
from pipelines.assets.ticks import raw_price_ticks, tick_inbox_sensor, tick_load_job
from pipelines.assets.transfers import transfer_matches
from pipelines.assets.wallets import WALLET_SOURCES, ChainEndpoints, build_wallet_assets
from pipelines.bootstrap import dbt_executable
from pipelines.dbt_project import coinbook_dbt
from pipelines.jobs import account_sync_job, balances_sync_job, transform_job
from pipelines.resources.exchanges import ExchangeResource
from pipelines.resources.warehouse import WarehouseResource
from pipelines.schedules import account_fan_out
from pipelines.sensors import new_account_sensor, stale_sources_sensor, transform_follow_up
from pipelines.settings import get_settings, resolve_database_url
from pipelines.venue_scaffold import all_venues

# The seed venues; COINBOOK_VENUES names others (any ccxt exchange id: venue_scaffold.py gives it raw tables,
# staging models and quality suites) or narrows the list.
VENUES: tuple[str, ...] = all_venues(get_settings().venues)


def raw_table_of(asset: dg.AssetsDefinition) -> str:
    """'raw_binance_trades' → 'raw.binance_trades': an ingestion asset is named for the table it fills."""
    return "raw." + asset.key.path[-1].removeprefix("raw_")


def build_definitions(database_url: str, sandbox_url: str | None, exchanges: ExchangeResource | None = None,
                      venues: tuple[str, ...] = VENUES) -> dg.Definitions:
    settings = get_settings()
    ingest = {venue: build_exchange_assets(venue) for venue in venues}
    raw_assets = [a for assets in ingest.values() for a in assets]
    wallet_assets = build_wallet_assets()
    wallet_keys = [key for a in wallet_assets for key in a.keys]
    gates = [build_gate_check(a, raw_table_of(a)) for a in raw_assets]
    gates += [build_gate_check(key, "raw." + key.path[-1].removeprefix("raw_"))
              for key in [*wallet_keys, raw_file_records.key]]
    market_assets = [a for a in raw_assets if a.partitions_def is None]
    market_only = [a for a in market_assets if a.key.path[-1].endswith("_tickers")]

    sync_jobs = {venue: account_sync_job(venue, assets) for venue, assets in ingest.items()}
    for source, asset in zip(WALLET_SOURCES, wallet_assets, strict=True):
        sync_jobs[source] = account_sync_job(source, [asset])
    balance_jobs = {venue: balances_sync_job(venue, assets) for venue, assets in ingest.items()}
    fast = transform_job("positions_refresh", [price_freshness], gates, coinbook_dbt_models,
                         "Fast tier (after tickers_refresh): the quality gate, the models up to positions, and "
                         "stale-price alerts.", up_to="positions")
    # influx_export last: it reads the risk tables portfolio_risk writes (and returns at once when not configured).
    nightly = transform_job("nightly_reconciliation",
                            [transfer_matches, tax_lots, portfolio_risk, influx_export], gates, coinbook_dbt_models,
                            "Slow tier (after market_data): the quality gate, every model and test.")
    market_data = dg.define_asset_job(
        "market_data", selection=dg.AssetSelection.assets(*market_assets).without_checks(),
        description="Tickers, daily candles and the last day's minute candles of every venue, nothing else "
                    "(no gate, no models).")
    tickers_refresh = dg.define_asset_job(
        "tickers_refresh", selection=dg.AssetSelection.assets(*market_only).without_checks(),
        description="The latest tickers of every venue (one batched call per venue), nothing else.")
    tier_jobs = {"fast": fast, "nightly": nightly, "backfill": nightly}
    market_jobs = {"fast": tickers_refresh, "nightly": market_data, "backfill": market_data}

    # Intraday prices: new minute candles and tickers every hour (the nightly run also fetches them).
    schedules = [dg.ScheduleDefinition(name="market_data_hourly", job=market_data, cron_schedule="5 * * * *",
                                       execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
                                       description="Every hour: tickers and new 1m/1d candles of every venue.")]
    sensors = [transform_follow_up([j.name for j in [*sync_jobs.values(), *balance_jobs.values()]], tier_jobs,
                                   market_jobs),
               stale_sources_sensor(), import_inbox_sensor, tick_inbox_sensor]
    for venue, job in sync_jobs.items():
        if venue in WALLET_SOURCES:  # wallets: no fast tier (no balance-only call); nightly with the rest
            schedules.append(account_fan_out(venue, job.name, "nightly", "0 2 * * *",
                                             f"Nightly: sync every {venue} account."))
            sensors.append(new_account_sensor(venue, job.name))
            continue
        schedules.append(account_fan_out(venue, balance_jobs[venue].name, "fast", "*/5 * * * *",
                                         f"Every 5 minutes: the balances of every {venue} account (fast tier)."))
        schedules.append(account_fan_out(venue, job.name, "nightly", "0 2 * * *",
                                         f"Nightly: sync every {venue} account, then full reconciliation."))
        sensors.append(new_account_sensor(venue, job.name))

    return dg.Definitions(
        assets=[*raw_assets, *wallet_assets, raw_file_records, raw_price_ticks, transfer_matches, tax_lots,
                portfolio_risk, price_freshness, influx_export, coinbook_dbt_models],
        asset_checks=gates,
        jobs=[file_import_job, tick_load_job, *sync_jobs.values(), *balance_jobs.values(), fast, nightly, market_data,
              tickers_refresh],
        schedules=schedules,
        sensors=sensors,
        resources={
            "warehouse": WarehouseResource(database_url=database_url),
            "chains": ChainEndpoints(sandbox_url=sandbox_url),
            "exchanges": exchanges or ExchangeResource(sandbox_url=sandbox_url, database_url=database_url,
                                                       home=str(settings.home)),
            "dbt": DbtCliResource(project_dir=coinbook_dbt, dbt_executable=dbt_executable()),
        },
    )


_settings = get_settings()
defs = build_definitions(resolve_database_url(_settings), _settings.sandbox_url)
