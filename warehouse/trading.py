"""Writes of the rebalancing records (V036): targets, proposals, their orders and their life. Append-only: the
latest row is what is in force, every statement enters the tenant's audit chain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from warehouse.connection import Warehouse


def record_targets(wh: Warehouse, tenant_id: str, portfolio_id: str,
                   bands: Sequence[tuple[str, Decimal, Decimal, Decimal]], cash_asset: str,
                   min_trade: Decimal, venues: Sequence[str], actor: str) -> datetime:
    """The portfolio's targets from now on: all its bands (asset, target, lower, upper) at once, with its settings.
    Returns when they were set."""
    with wh.connect() as conn, conn.transaction():
        row = conn.execute(
            """insert into ops.rebalance_settings (tenant_id, portfolio_id, cash_asset, min_trade, venues, recorded_by)
               values (%s, %s, %s, %s, %s, %s) returning set_at""",
            (tenant_id, portfolio_id, cash_asset, min_trade, list(venues), actor)).fetchone()
        assert row is not None
        set_at = row[0]
        with conn.cursor() as cur:
            cur.executemany(
                """insert into ops.rebalance_targets (tenant_id, portfolio_id, set_at, asset, target_weight,
                                                      lower_weight, upper_weight, recorded_by)
                   values (%s, %s, %s, %s, %s, %s, %s, %s)""",
                [(tenant_id, portfolio_id, set_at, *band, actor) for band in bands])
    return set_at


def record_proposal(wh: Warehouse, tenant_id: str, proposal_id: str, proposal: dict[str, Any],
                    orders: Sequence[tuple[Any, ...]]) -> bool:
    """The proposal (`proposal`: the columns of ops.rebalance_proposals but the keys), its orders (account_id, venue,
    symbol, side, amount, limit_price, notional, fee, client_order_id, expected_cost, routed: V044) and its first
    event ('proposed'), once: False when it is already recorded (the same portfolio, day and orders)."""
    columns = ("portfolio_id", "cash_asset", "value", "expected_cost", "var_before_usd", "var_after_usd", "blocked",
               "block_reason", "drifts", "skipped", "targets_set_at")
    values = [proposal[c] for c in columns]
    values[columns.index("drifts")] = json.dumps(proposal["drifts"])
    values[columns.index("skipped")] = json.dumps(proposal["skipped"])
    with wh.connect() as conn, conn.transaction():
        row = conn.execute(
            f"""insert into ops.rebalance_proposals (tenant_id, proposal_id, {", ".join(columns)})
               values (%s, %s, {", ".join(["%s"] * len(columns))})
               on conflict (tenant_id, proposal_id) do nothing returning proposal_id""",
            (tenant_id, proposal_id, *values)).fetchone()
        if row is None:
            return False
        with conn.cursor() as cur:
            cur.executemany(
                """insert into ops.rebalance_orders (tenant_id, proposal_id, order_index, account_id, venue, symbol,
                                                     side, amount, limit_price, notional, fee, client_order_id,
                                                     expected_cost, routed)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(tenant_id, proposal_id, i, *order) for i, order in enumerate(orders)])
        conn.execute("""insert into ops.proposal_events (tenant_id, proposal_id, state, reason)
                        values (%s, %s, 'proposed', %s)""", (tenant_id, proposal_id, proposal["block_reason"]))
        _supersede_older(conn, tenant_id, proposal["portfolio_id"], proposal_id)
    return True


def _supersede_older(conn: psycopg.Connection[Any], tenant_id: str, portfolio_id: str, newer: str) -> list[str]:
    """The portfolio's other proposals still 'proposed' become 'superseded' (computed on older holdings, they must
    not be approved any more). One savepoint each: a manager deciding one of them at this very moment wins (the
    table's trigger refuses the step then), and the newer proposal is recorded all the same."""
    waiting = [r[0] for r in conn.execute(
        """select p.proposal_id from ops.rebalance_proposals p
           where p.tenant_id = %s and p.portfolio_id = %s and p.proposal_id <> %s
             and (select e.state from ops.proposal_events e where e.tenant_id = p.tenant_id
                     and e.proposal_id = p.proposal_id order by e.event_id desc limit 1) = 'proposed'
           order by p.created_at""", (tenant_id, portfolio_id, newer)).fetchall()]
    done = []
    for old in waiting:
        try:
            with conn.transaction():
                conn.execute("""insert into ops.proposal_events (tenant_id, proposal_id, state, reason)
                                values (%s, %s, 'superseded', %s)""", (tenant_id, old, f"superseded by {newer}"))
            done.append(old)
        except psycopg.errors.CheckViolation:
            continue  # decided meanwhile: its decision stands
    return done


def _insert_as(person: Warehouse, sql: str, params: Sequence[Any]) -> Any:
    """One row inserted on a person's own login, its RETURNING value; what the database's rules refuse (a grant,
    row-level security, a trigger's check) is a ValueError with the database's reason."""
    try:
        with person.connect() as conn, conn.transaction():
            row = conn.execute(sql, params).fetchone()
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.CheckViolation) as exc:
        raise ValueError(str(exc).strip().splitlines()[0]) from None
    assert row is not None
    return row[0]


def record_decision(person: Warehouse, tenant_id: str, proposal_id: str, state: str, reason: str | None) -> int:
    """A manager's decision, written on the manager's own login (`person`: so the database knows who decided: the
    trigger records session_user as the actor, row-level security keeps the login to its tenants). A step the
    rules refuse is a ValueError with the database's reason."""
    return int(_insert_as(person, """insert into ops.proposal_events (tenant_id, proposal_id, state, reason)
                                      values (%s, %s, %s, %s) returning event_id""",
                          (tenant_id, proposal_id, state, reason)))


def record_arbitrage_threshold(person: Warehouse, tenant_id: str, alert_edge_bps: Decimal) -> datetime:
    """The tenant's arbitrage alert threshold from now on (ops.arbitrage_settings, V041), written on the manager's own
    login (`person`: the trigger stamps it as recorded_by). Returns when it was set."""
    return _insert_as(person, """insert into ops.arbitrage_settings (tenant_id, alert_edge_bps) values (%s, %s)
                                 returning set_at""", (tenant_id, alert_edge_bps))


def arbitrage_thresholds(wh: Warehouse, tenant_id: str | None = None
                         ) -> list[tuple[str, Decimal | None, datetime | None, str | None]]:
    """Per tenant (or this one): (tenant, threshold in bps, set at, set by) in force; None when never set."""
    with wh.connect() as conn:
        return conn.execute(
            """select t.tenant_id, s.alert_edge_bps, s.set_at, s.recorded_by from ops.tenants t
               left join lateral (select alert_edge_bps, set_at, recorded_by from ops.arbitrage_settings a
                                  where a.tenant_id = t.tenant_id order by set_at desc limit 1) s on true
               where %(t)s::text is null or t.tenant_id = %(t)s
               order by t.tenant_id""", {"t": tenant_id}).fetchall()
