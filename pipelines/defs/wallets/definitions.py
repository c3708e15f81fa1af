"""Wallets: Bitcoin and EVM wallets and DeFi position sets, each an account sync job over its partition set
(scheduled nightly with the exchanges; there is no balance-only call for the fast tier)."""

import dagster as dg

from pipelines.defs.common import SOURCE_TAG
from pipelines.defs.wallets.assets import WALLET_ASSETS
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    jobs = [dg.define_asset_job(f"{source}_account_sync", selection=dg.AssetSelection.assets(asset).without_checks(),
                                tags={SOURCE_TAG: source},
                                description=f"One {source} account (one run per account partition).")
            for source, asset in WALLET_ASSETS.items()]
    return dg.Definitions(assets=list(WALLET_ASSETS.values()), jobs=jobs)
