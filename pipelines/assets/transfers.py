"""Internal transfer matching as a Dagster asset, between dbt's int_ledger and the marts that read its result
(derived.transfer_matches → internal_transfers, transfer_review, ledger). The rules are pipelines.domain.transfers;
this is the thin part: read the movements and overrides, match, replace the table in one transaction."""

import hashlib
from decimal import Decimal

import dagster as dg

from pipelines.domain.transfers import Movement, Override, match_transfers
from pipelines.resources.warehouse import WarehouseResource
from warehouse.loader import copy_insert

MATCH_COLUMNS = ("tenant_id", "match_id", "out_entry_id", "in_entry_id", "out_account_id", "in_account_id", "asset",
                 "sent", "received", "fee_gap", "sent_at", "received_at", "method", "txid", "run_id")


@dg.asset(
    name="transfer_matches",
    deps=[dg.AssetKey("int_ledger")],
    group_name="transform",
    kinds={"python", "postgres"},
    description="Withdrawals matched to deposits across a tenant's own accounts (txid, then amount within fee "
                "tolerance and time window; ops.transfer_overrides first). Recomputed whole: deterministic.",
)
def transfer_matches(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    with wh.connect() as conn:
        movements = [Movement(eid, tenant, account, asset, Decimal(abs(quantity)), at,
                              "out" if quantity < 0 else "in", txid)
                     for eid, tenant, account, asset, quantity, at, txid in conn.execute(
                         """select ledger_entry_id, tenant_id, account_id, asset, quantity, occurred_at, txid
                            from intermediate.int_ledger
                            where entry_type in ('deposit', 'withdrawal') and leg = 'amount' and quantity <> 0""")]
        overrides = [Override(d, o, i) for d, o, i in conn.execute(
            "select decision, out_entry_id, in_entry_id from ops.transfer_overrides order by override_id")]
    matches = match_transfers(movements, overrides)
    rows = [(m.outflow.tenant_id,
             hashlib.sha256(f"{m.outflow.entry_id}|{m.inflow.entry_id}".encode()).hexdigest()[:32],
             m.outflow.entry_id, m.inflow.entry_id, m.outflow.account_id, m.inflow.account_id, m.outflow.asset,
             m.outflow.amount, m.inflow.amount, m.fee_gap, m.outflow.occurred_at, m.inflow.occurred_at, m.method,
             m.outflow.txid or m.inflow.txid, context.run_id) for m in matches]
    with wh.connect() as conn, conn.transaction():
        conn.execute("delete from derived.transfer_matches")
        copy_insert(conn, "derived.transfer_matches", MATCH_COLUMNS, rows)
    by_method: dict[str, int] = {}
    for m in matches:
        by_method[m.method] = by_method.get(m.method, 0) + 1
    return dg.MaterializeResult(metadata={"movements": len(movements), "matched_pairs": len(matches),
                                          **{f"by_{k}": v for k, v in by_method.items()}})
