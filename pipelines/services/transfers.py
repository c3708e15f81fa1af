"""Internal transfer matching, between the ledger (intermediate.int_ledger) and the marts that read its result
(derived.transfer_matches → internal_transfers, transfer_review, ledger). The rules are pipelines/domain/
transfers.py; this reads the movements and overrides, matches, and replaces the table whole (deterministic)."""

from __future__ import annotations

import hashlib
from collections import Counter
from decimal import Decimal
from typing import Any

from pipelines.domain.transfers import Movement, Override, TransferMatch, match_transfers
from warehouse.connection import Warehouse
from warehouse.derived import replace_tables

MATCH_COLUMNS = ("tenant_id", "match_id", "out_entry_id", "in_entry_id", "out_account_id", "in_account_id", "asset",
                 "sent", "received", "fee_gap", "sent_at", "received_at", "method", "txid", "run_id")

MOVEMENTS_SQL = """
select ledger_entry_id, tenant_id, account_id, asset, quantity, occurred_at, txid
from intermediate.int_ledger
where entry_type in ('deposit', 'withdrawal') and leg = 'amount' and quantity <> 0
"""


def read_movements(wh: Warehouse) -> tuple[list[Movement], list[Override]]:
    with wh.connect() as conn:
        movements = [Movement(eid, tenant, account, asset, Decimal(abs(quantity)), at,
                              "out" if quantity < 0 else "in", txid)
                     for eid, tenant, account, asset, quantity, at, txid in conn.execute(MOVEMENTS_SQL)]
        overrides = [Override(d, o, i) for d, o, i in conn.execute(
            "select decision, out_entry_id, in_entry_id from ops.transfer_overrides order by override_id")]
    return movements, overrides


def match_rows(matches: list[TransferMatch], run_id: str | None) -> list[tuple[Any, ...]]:
    return [(m.outflow.tenant_id,
             hashlib.sha256(f"{m.outflow.entry_id}|{m.inflow.entry_id}".encode()).hexdigest()[:32],
             m.outflow.entry_id, m.inflow.entry_id, m.outflow.account_id, m.inflow.account_id, m.outflow.asset,
             m.outflow.amount, m.inflow.amount, m.fee_gap, m.outflow.occurred_at, m.inflow.occurred_at, m.method,
             m.outflow.txid or m.inflow.txid, run_id) for m in matches]


def match_internal_transfers(wh: Warehouse, run_id: str | None) -> dict[str, int]:
    """Match every tenant's withdrawals to its deposits and replace derived.transfer_matches; returns counts."""
    movements, overrides = read_movements(wh)
    matches = match_transfers(movements, overrides)
    replace_tables(wh, {"transfer_matches": MATCH_COLUMNS}, {"transfer_matches": match_rows(matches, run_id)})
    by_method = Counter(m.method for m in matches)
    return {"movements": len(movements), "matched_pairs": len(matches), **{f"by_{k}": v for k, v in by_method.items()}}
