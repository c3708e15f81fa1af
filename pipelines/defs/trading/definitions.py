"""Trading (issue 18): rebalancing proposals (proposals.py), arbitrage detection (arbitrage.py). Each module lists
its ASSETS (or builds them from the settings); this file merges them."""

import dagster as dg

from pipelines.defs.trading import arbitrage, proposals
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[*proposals.ASSETS, *arbitrage.build_assets(settings)])
