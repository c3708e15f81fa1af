"""The audit chain (migration V018): verified and checkpointed by the nightly run (audit/assets.py)."""

import dagster as dg

from pipelines.defs.audit.assets import audit_chain
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[audit_chain])
