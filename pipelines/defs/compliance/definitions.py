"""Compliance (issue 16 §2): sanctions screening (screening.py), large and unhosted transfers and the KYC
register (transfers.py). Each module lists its ASSETS; this file only merges them."""

import dagster as dg

from pipelines.defs.compliance import screening, transfers
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[*screening.ASSETS, *transfers.ASSETS])
