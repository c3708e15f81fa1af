"""Exports: the optional InfluxDB 2 export of reference prices and risk metrics (exports/assets.py)."""

import dagster as dg

from pipelines.defs.exports.assets import influx_export
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[influx_export])
