"""Tax lots as a multi-asset, between dbt's int_lot_events and the lot marts. services/lots.py does it:
incremental per tenant and asset, only units whose inputs changed are recomputed (derived.lot_units)."""

from collections.abc import Iterator

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.services.lots import compute_tax_lots

RESULTS = (("lot_slices", "disposals matched to lot slices"), ("lot_open", "lots still open"),
           ("lot_missing", "disposals and transfers no lot covers"),
           ("lot_transfers", "what each internal transfer took and brought"),
           ("lot_warnings", "what the engine decided on its own (fallbacks)"))


@dg.multi_asset(
    name="tax_lots",
    specs=[dg.AssetSpec(table, group_name="lots", kinds={"python", "postgres"}, deps=[dg.AssetKey("int_lot_events")],
                        description=f"derived.{table}: {what}") for table, what in RESULTS],
    description="The lot engine over intermediate.int_lot_events, per tenant and asset; only units whose inputs "
                "changed are recomputed (derived.lot_units).",
)
def tax_lots(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    written, summary = compute_tax_lots(warehouse.get(), context.run_id)
    for table, rows in written.items():
        yield dg.MaterializeResult(asset_key=table, metadata={"rows_written": rows, **summary})
