"""Internal transfer matching as an asset, between dbt's int_ledger and the ledger marts that read its result
(derived.transfer_matches → internal_transfers, transfer_review, ledger). services/transfers.py does it."""

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.services.transfers import match_internal_transfers


@dg.asset(
    name="transfer_matches", deps=[dg.AssetKey("int_ledger")], group_name="ledger", kinds={"python", "postgres"},
    description="Withdrawals matched to deposits across a tenant's own accounts (txid, then amount within fee "
                "tolerance and time window; ops.transfer_overrides first). Recomputed whole: deterministic.",
)
def transfer_matches(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=match_internal_transfers(warehouse.get(), context.run_id))
