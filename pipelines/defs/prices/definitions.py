"""Prices: market data per venue (tickers, candles), the jobs that fetch it (market_data for the nightly tier
and every hour, tickers_refresh for the fast tier), and price tick files through their inbox. The reference
prices themselves are dbt models (intermediate/prices, marts/prices: pipelines/defs/models)."""


import dagster as dg

from pipelines.defs.prices.assets import build_market_assets, raw_price_ticks
from pipelines.defs.prices.jobs import market_data_job, tick_load_job, tickers_refresh_job
from pipelines.defs.prices.sensors import tick_inbox_sensor
from pipelines.services.venues import all_venues
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    market = [a for venue in all_venues(settings.venues)
              for a in build_market_assets(venue, settings.minute_candle_hours)]
    return dg.Definitions(assets=[*market, raw_price_ticks], jobs=[market_data_job, tickers_refresh_job, tick_load_job],
                          sensors=[tick_inbox_sensor(settings)])
