"""Exchanges: per venue, the account assets (balances, transfers, trades) and the two account jobs the schedules
fan out — the full sync (nightly, back-fills) and the balances alone (the fast tier)."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.defs.common import SOURCE_TAG
from pipelines.defs.exchanges.assets import build_account_assets
from pipelines.services.venues import all_venues
from pipelines.settings import CoinbookSettings


def account_sync_job(venue: str, assets: list[dg.AssetsDefinition]) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=f"{venue}_account_sync",
        # The gates validate whole tables: they run once per tick in the transform job, not once per account.
        selection=dg.AssetSelection.assets(*assets).without_checks(), tags={SOURCE_TAG: venue},
        description=f"Balances, transfers and trades of one {venue} account (one run per account partition).")


def balances_sync_job(venue: str, assets: list[dg.AssetsDefinition]) -> UnresolvedAssetJobDefinition:
    balances = [a for a in assets if a.key.path[-1].endswith("_balances")]
    return dg.define_asset_job(
        name=f"{venue}_balances_sync", selection=dg.AssetSelection.assets(*balances).without_checks(),
        tags={SOURCE_TAG: venue},
        description=f"Fast tier: the balances of one {venue} account (one run per account partition).")


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    assets, jobs = [], []
    for venue in all_venues(settings.venues):
        venue_assets = build_account_assets(venue)
        assets += venue_assets
        jobs += [account_sync_job(venue, venue_assets), balances_sync_job(venue, venue_assets)]
    return dg.Definitions(assets=assets, jobs=jobs)
