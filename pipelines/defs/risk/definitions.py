"""Risk: portfolio risk between the positions/returns marts and the risk marts (risk/assets.py); the returns,
volatilities and risk marts themselves are dbt (marts/risk)."""

import dagster as dg

from pipelines.defs.risk.assets import portfolio_risk
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[portfolio_risk])
