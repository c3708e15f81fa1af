"""What every capability's Dagster parts share: the warehouse resource, the run tags of the tiers, the account
partitions, and a sync's counts as asset metadata."""

from typing import Any

import dagster as dg

from warehouse.connection import Warehouse

TIER_TAG = "coinbook/tier"  # fast | nightly | backfill | manual | import | ticks
TICK_TAG = "coinbook/tick"  # the scheduled time a run belongs to: its follow-up runs once per tick
# On Kubernetes the run queue limits concurrency by these (deploy/helm/values.yaml, tagConcurrencyLimits): the
# account syncs of one venue or chain, and the transforms, whose derived-table replaces must not overlap.
SOURCE_TAG = "coinbook/venue"  # the venue or chain of an account-sync run
TRANSFORM_TAG = "coinbook/transform"  # the transform job of a tier


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse is; everything else lives in warehouse/ and the services."""

    database_url: str

    def get(self) -> Warehouse:
        return Warehouse(self.database_url)


def account_partitions(source: str) -> dg.DynamicPartitionsDefinition:
    """One partition per account of a venue or on-chain source, keyed 'tenant.account'."""
    return dg.DynamicPartitionsDefinition(name=f"{source}_accounts")


def sync_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    """A service's summary (counts, seconds, an error) as asset metadata; ints stay ints for the run's totals."""
    return {k: dg.MetadataValue.text(v) if isinstance(v, str) else v for k, v in summary.items()}


def nothing_to_do(reason: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"fetched": 0, "inserted": 0, "api_calls": 0,
                                          "note": dg.MetadataValue.text(reason)})
