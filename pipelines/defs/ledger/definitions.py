"""Ledger: the unified ledger is dbt (intermediate/ledger, marts/ledger); this capability adds the Python step
between them, internal transfer matching (ledger/assets.py)."""

import dagster as dg

from pipelines.defs.ledger.assets import transfer_matches
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[transfer_matches])
