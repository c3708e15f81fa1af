"""The transform jobs of the tiers: the quality gates (blocking) of every raw table, then the models with the Python
assets that sit between them. Selections by group and key, so this module needs no other capability's objects
(only the gates' keys)."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.defs.common import TRANSFORM_TAG
from pipelines.defs.quality.checks import gate_keys
from pipelines.settings import CoinbookSettings

INGEST = dg.AssetSelection.groups("ingest")
ALERTS = dg.AssetSelection.groups("alerts")  # freshness is judged after every tier's syncs


def transform_jobs(settings: CoinbookSettings) -> list[UnresolvedAssetJobDefinition]:
    gates = dg.AssetSelection.checks(*gate_keys(settings))
    everything = dg.AssetSelection.all() - INGEST
    # what the gate just quarantined is shown as soon as the held-back accounts are (marts.quarantine_by_source)
    up_to_positions = dg.AssetSelection.keys("positions", "data_status", "quarantine_by_source").upstream() - INGEST
    return [
        dg.define_asset_job("positions_refresh", selection=up_to_positions | ALERTS | gates,
                            tags={TRANSFORM_TAG: "positions_refresh"},
                            description="Fast tier (after tickers_refresh): the quality gate, the models up to "
                                        "positions, the quarantine counts, and freshness alerts."),
        # everything but ingestion: every model and test, transfer matching, lots, risk, alerts, the exports
        # (influx_export reads the risk tables portfolio_risk writes, and returns at once when not configured)
        dg.define_asset_job("nightly_reconciliation", selection=everything | gates,
                            tags={TRANSFORM_TAG: "nightly_reconciliation"},
                            description="Slow tier (after market_data): the quality gate, every model and test, "
                                        "lots, risk, alerts and exports."),
    ]
