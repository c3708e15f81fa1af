"""Jobs: one account sync per account partition, the market data of a tier, and the transform (quality
gates, dbt) that follows them. Schedules (schedules.py) and sensors (sensors.py) launch them."""

from collections.abc import Sequence

import dagster as dg

TIER_TAG = "coinbook/tier"
TICK_TAG = "coinbook/tick"


def account_sync_job(venue: str, assets: Sequence[dg.AssetsDefinition]) -> "dg.UnresolvedAssetJobDefinition":
    partitioned = [a for a in assets if a.partitions_def is not None]
    return dg.define_asset_job(
        name=f"{venue}_account_sync",
        # The gates validate whole tables: they run once per tick in the transform job, not once per account.
        selection=dg.AssetSelection.assets(*partitioned).without_checks(),
        description=f"Balances, transfers and trades of one {venue} account (one run per account partition).",
    )


def balances_sync_job(venue: str, assets: Sequence[dg.AssetsDefinition]) -> "dg.UnresolvedAssetJobDefinition":
    """Fast tier: only the balance snapshot of one account (one call on most venues)."""
    balances = [a for a in assets if a.key.path[-1].endswith("_balances")]
    return dg.define_asset_job(
        name=f"{venue}_balances_sync",
        selection=dg.AssetSelection.assets(*balances).without_checks(),
        description=f"Fast tier: the balances of one {venue} account (one run per account partition).",
    )


# The market data a transform needs is fetched by its own run just before it (runner.run_pipeline, and the
# follow-up sensor): in the same job, Dagster would split the dbt models into one more step (~6 s of dbt and
# Dagster start-up each) because the price staging models sit one asset deeper than the account ones.
MARKET_JOB_OF = {"nightly_reconciliation": "market_data", "positions_refresh": "tickers_refresh"}


def transform_job(name: str, python_assets: Sequence[dg.AssetsDefinition],
                  gates: Sequence[dg.AssetChecksDefinition], dbt_assets: dg.AssetsDefinition,
                  description: str, up_to: str | None = None) -> "dg.UnresolvedAssetJobDefinition":
    """The quality gates (blocking) of every raw table, then the dbt models (all, or those `up_to` needs)
    with the Python assets that sit between them."""
    models: dg.AssetSelection = dg.AssetSelection.assets(dbt_assets)
    if up_to is not None:
        models = models & dg.AssetSelection.keys(up_to).upstream()
    selection = dg.AssetSelection.assets(*python_assets) | models
    for gate in gates:
        selection = selection | dg.AssetSelection.checks(gate)
    return dg.define_asset_job(name=name, selection=selection, description=description)
