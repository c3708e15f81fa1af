"""Trading (issue 18): rebalancing proposals (proposals.py). Each module lists its ASSETS; this file merges them."""

import dagster as dg

from pipelines.defs.trading import proposals
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[*proposals.ASSETS])
