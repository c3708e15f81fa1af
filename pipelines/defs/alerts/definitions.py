"""Alerts: freshness judged as assets in every tier (alerts/assets.py) and, between runs, by the stale_sources
sensor; risk alerts are raised by the risk capability; every alert is sent by the notifier (alerts/resources.py)."""


import dagster as dg

from pipelines.defs.alerts.assets import price_freshness, source_freshness
from pipelines.defs.alerts.sensors import stale_sources_sensor
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[price_freshness, source_freshness], sensors=[stale_sources_sensor])
