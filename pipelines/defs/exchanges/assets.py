"""An exchange venue's per-account ingestion assets: balances, deposits and withdrawals, trades. Partitioned by
account, so one failing account does not fail the others. A few lines each around services/exchanges.py."""

from collections.abc import Callable

import dagster as dg

from pipelines.constants import raw_asset_name, raw_table
from pipelines.defs.common import WarehouseResource, account_partitions, sync_metadata
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.services.accounts import account
from pipelines.services.calls import VenueCall
from pipelines.services.clients import ExchangeClients
from pipelines.services.exchanges import sync_account_trades, sync_account_transfers, sync_balances
from pipelines.sources.exchanges.client import ExchangeAccount
from warehouse.connection import Warehouse

Sync = Callable[[Warehouse, ExchangeClients, ExchangeAccount, str], VenueCall]
ACCOUNT_ENTITIES: tuple[tuple[str, Sync, str, tuple[str, ...]], ...] = (
    ("balances", sync_balances, "Balance snapshots reported by {venue} per account ({table}).", ()),
    ("transfers", sync_account_transfers, "Deposits and withdrawals on {venue} per account, incremental.", ()),
    ("trades", sync_account_trades, "Own trades on {venue} per account, incremental from the stored cursors.",
     ("balances", "transfers")),
)


def account_asset(venue: str, entity: str, sync: Sync, description: str,
                  deps: tuple[str, ...]) -> dg.AssetsDefinition:
    @dg.asset(name=raw_asset_name(venue, entity), partitions_def=account_partitions(venue), group_name="ingest",
              kinds={"python", "postgres"}, deps=[raw_asset_name(venue, d) for d in deps],
              description=description.format(venue=venue, table=raw_table(venue, entity)))
    def ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               exchanges: ExchangeResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        call = sync(wh, exchanges.get(), account(wh, context.partition_key), context.run_id)
        return dg.MaterializeResult(metadata=sync_metadata(call.summary()))

    return ingest


def build_account_assets(venue: str) -> list[dg.AssetsDefinition]:
    return [account_asset(venue, entity, sync, description, deps)
            for entity, sync, description, deps in ACCOUNT_ENTITIES]
