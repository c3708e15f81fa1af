"""Lots: the lot engine between int_lot_events and the lot marts (lots/assets.py); the marts are dbt
(marts/lots)."""

import dagster as dg

from pipelines.defs.lots.assets import tax_lots
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[tax_lots])
