"""Writes of the send step (V036's proposal events, V040's order reports): append-only, every statement in the
tenant's audit chain. The pipeline's steps ('sent', 'filled', 'partially_filled', 'failed') are written on the
pipeline's login; the table's trigger refuses a step the proposal's life does not allow."""

from __future__ import annotations

import json
from typing import Any

from warehouse import trading
from warehouse.connection import Warehouse

REPORT_COLUMNS = ("proposal_id", "order_index", "account_id", "client_order_id", "venue_order_id", "status", "filled",
                  "average_price", "cost", "fee", "fee_asset", "reason", "payload")


def record_step(wh: Warehouse, tenant_id: str, proposal_id: str, state: str, reason: str | None) -> int:
    """One step of the proposal's life; ValueError with the database's reason when its rules refuse it. The same
    insert as a manager's decision (trading.record_decision): whose step it is, is the login `wh` connects as."""
    return trading.record_decision(wh, tenant_id, proposal_id, state, reason)


def record_report(wh: Warehouse, tenant_id: str, report: dict[str, Any]) -> None:
    values = [json.dumps(report[c], default=str) if c == "payload" and report[c] is not None else report[c]
              for c in REPORT_COLUMNS]
    with wh.connect() as conn:
        conn.execute(f"""insert into ops.order_reports (tenant_id, {', '.join(REPORT_COLUMNS)})
                         values (%s, {', '.join(['%s'] * len(REPORT_COLUMNS))})""", (tenant_id, *values))


def latest_reports(wh: Warehouse, tenant_id: str, proposal_id: str) -> dict[int, dict[str, Any]]:
    """order_index → its latest report (the columns of REPORT_COLUMNS and reported_at)."""
    with wh.connect() as conn:
        rows = conn.execute(
            f"""select distinct on (order_index) {', '.join(REPORT_COLUMNS)}, reported_at from ops.order_reports
                where tenant_id = %s and proposal_id = %s order by order_index, report_id desc""",
            (tenant_id, proposal_id)).fetchall()
    return {r[1]: dict(zip((*REPORT_COLUMNS, "reported_at"), r, strict=True)) for r in rows}


def proposal_orders(wh: Warehouse, tenant_id: str, proposal_id: str) -> list[tuple[Any, ...]]:
    """(order_index, account_id, venue, symbol, side, amount, limit_price, client_order_id) of the proposal."""
    with wh.connect() as conn:
        return conn.execute(
            """select order_index, account_id, venue, symbol, side, amount, limit_price, client_order_id
               from ops.rebalance_orders where tenant_id = %s and proposal_id = %s order by order_index""",
            (tenant_id, proposal_id)).fetchall()


def order_trades(wh: Warehouse, tenant_id: str, proposal_id: str) -> list[tuple[Any, ...]]:
    """The synced trades of the proposal's orders: (order_index, source_record_id, quantity, price, fee_amount,
    fee_asset), found by the venue's order id in the venue's raw trades — the one place a fill is booked."""
    with wh.connect() as conn:
        venues = [r[0] for r in conn.execute(
            "select distinct venue from ops.rebalance_orders where tenant_id = %s and proposal_id = %s",
            (tenant_id, proposal_id)).fetchall()]
        out: list[tuple[Any, ...]] = []
        for venue in venues:
            table = conn.execute("select to_regclass(%s)", (f"raw.{venue}_trades",)).fetchone()
            if table is None or table[0] is None:
                continue
            out += conn.execute(
                f"""with linked as (
                        select distinct r.order_index, r.account_id, r.venue_order_id from ops.order_reports r
                        where r.tenant_id = %s and r.proposal_id = %s and r.venue_order_id is not null)
                    select l.order_index, t.source_record_id, t.quantity, t.price, t.fee_amount, t.fee_asset
                    from linked l join {table[0]} t on t.tenant_id = %s and t.account_id = l.account_id
                                                    and t.order_id = l.venue_order_id
                    order by l.order_index, t.source_record_id""", (tenant_id, proposal_id, tenant_id)).fetchall()
    return out
