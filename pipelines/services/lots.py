"""Tax lots, between dbt's int_lot_events and the lot marts (disposals, open_lots, realized_pnl, unrealized_pnl,
missing_cost_basis). The rules are pipelines/domain/lots.py (fast path: lots_fast.py); this finds the units whose
inputs changed, reads their events, runs the engine and replaces their rows (warehouse/derived.py).

A unit is one tenant's asset across all its books: transfers move lots between books of the same asset, so
nothing smaller can be recomputed alone, and different assets never share a lot. A unit's inputs hash covers its
events, the tenant's lot settings and its specific-identification choices; an unchanged hash means the stored
results are what the engine would give again (it is deterministic), so the unit is skipped."""


import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from pipelines.domain.lots import RULES_EDITION, LotEvent, LotResult, Method
from pipelines.domain.lots_fast import compute_lots_fast
from warehouse.connection import Warehouse
from warehouse.derived import replace_units

RESULT_TABLES = ("lot_slices", "lot_open", "lot_missing", "lot_transfers", "lot_warnings")

# The inputs of each unit, hashed in SQL (no need to read unchanged units): the rules' edition, events, settings,
# selections.
UNIT_HASHES = """
with events as (
    select tenant_id, asset, count(*) as events,
           md5(string_agg(concat_ws('|', event_id, book, kind, quantity, value_usd, occurred_at, transfer_id,
                                    source), ',' order by event_id)) as events_hash
    from intermediate.int_lot_events
    group by tenant_id, asset
),
chosen as (
    select e.tenant_id, e.asset,
           md5(string_agg(concat_ws('|', s.disposal_event_id, s.ordinal, s.lot_id, s.quantity), ','
                          order by s.disposal_event_id, s.ordinal)) as selections_hash
    from ops.lot_selections as s
    join intermediate.int_lot_events as e on e.tenant_id = s.tenant_id and e.event_id = s.disposal_event_id
    group by e.tenant_id, e.asset
)
select e.tenant_id, e.asset, e.events,
       md5(concat_ws('|', %(edition)s::text, e.events_hash, c.selections_hash, st.book_scope, st.default_method,
                     st.specific_fallback, st.stablecoins_as_cash, st.methods)) as inputs_hash,
       st.default_method, st.specific_fallback, coalesce(st.methods, '') as methods
from events as e
join staging.stg_ops__lot_settings as st on st.tenant_id = e.tenant_id
left join chosen as c on c.tenant_id = e.tenant_id and c.asset = e.asset
order by e.tenant_id, e.asset
"""


@dataclass(frozen=True)
class Unit:
    tenant_id: str
    asset: str
    events: int
    inputs_hash: str
    default_method: str
    specific_fallback: str
    methods: str  # '2024:fifo,2025:hifo': elections from a tax year on

    def method_for_year(self) -> Callable[[int], Method]:
        """The elected method of a tax year: the latest election at or before it, else the tenant default."""
        elections = sorted((int(year), Method(m)) for year, m in
                           (item.split(":") for item in self.methods.split(",") if item))
        default = Method(self.default_method)

        def method(year: int) -> Method:
            chosen = default
            for from_year, elected in elections:
                if from_year <= year:
                    chosen = elected
            return chosen
        return method

    def describe_methods(self) -> str:
        return self.default_method + (f" ({self.methods})" if self.methods else "")


def changed_units(current: Sequence[Unit], stored: dict[tuple[str, str], str]) -> tuple[list[Unit],
                                                                                     list[tuple[str, str]]]:
    """(units to recompute, units whose events are all gone) — pure, so the incremental rule is tested alone."""
    todo = [u for u in current if stored.get((u.tenant_id, u.asset)) != u.inputs_hash]
    present = {(u.tenant_id, u.asset) for u in current}
    return todo, sorted(key for key in stored if key not in present)


def result_rows(unit: Unit, result: LotResult, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """The engine's result as rows of the derived tables (slices numbered per disposal, in the engine's order)."""
    tenant, asset = unit.tenant_id, unit.asset
    slices, numbering = [], {}
    for s in result.slices:
        n = numbering[s.disposal_id] = numbering.get(s.disposal_id, 0) + 1
        slices.append((tenant, asset, s.book, s.disposal_id, n, s.lot_id, s.lot_id.split(">")[0], s.quantity,
                       s.proceeds, s.cost, s.acquired_at, s.disposed_at, s.method.value, run_id))
    # open lots are held under the method in force in the latest year of the unit (not that of their purchase)
    latest = max((s.disposed_at.year for s in result.slices), default=0)
    latest = max([latest, *(lot.acquired_at.year for lot in result.open_lots)])
    in_force = unit.method_for_year()(latest).value
    lots = [(tenant, asset, lot.book, lot.lot_id, lot.lot_id.split(">")[0], lot.acquired_at, lot.quantity, lot.cost,
             in_force, run_id) for lot in result.open_lots]
    missing = [(tenant, asset, m.book, m.disposal_id, m.quantity, m.proceeds, m.at, run_id) for m in result.missing]
    transfers = [(tenant, asset, tid, taken, arrived, run_id) for tid, taken, arrived in result.transfers]
    warnings = [(tenant, asset, i, text.split(":", 1)[0], text, run_id) for i, text in enumerate(result.warnings, 1)]
    return {"lot_slices": slices, "lot_open": lots, "lot_missing": missing, "lot_transfers": transfers,
            "lot_warnings": warnings}


COLUMNS = {
    "lot_slices": ("tenant_id", "asset", "book", "disposal_event_id", "slice_no", "lot_id", "lot_event_id", "quantity",
                   "proceeds", "cost", "acquired_at", "disposed_at", "method", "run_id"),
    "lot_open": ("tenant_id", "asset", "book", "lot_id", "lot_event_id", "acquired_at", "quantity", "cost", "method",
                  "run_id"),
    "lot_missing": ("tenant_id", "asset", "book", "event_id", "quantity", "proceeds", "occurred_at", "run_id"),
    "lot_transfers": ("tenant_id", "asset", "transfer_id", "taken", "arrived", "run_id"),
    "lot_warnings": ("tenant_id", "asset", "ordinal", "event_id", "message", "run_id"),
}


def read_events(conn: psycopg.Connection[Any], units: Sequence[Unit]) -> dict[tuple[str, str], list[LotEvent]]:
    keys = [(u.tenant_id, u.asset) for u in units]
    events: dict[tuple[str, str], list[LotEvent]] = {k: [] for k in keys}
    for tenant, asset, eid, book, kind, qty, value, at, tid, source in conn.execute(
            """select e.tenant_id, e.asset, e.event_id, e.book, e.kind, e.quantity, e.value_usd, e.occurred_at,
                      e.transfer_id, e.source
               from intermediate.int_lot_events as e
               join unnest(%s::text[], %s::text[]) as u (tenant_id, asset)
                 on u.tenant_id = e.tenant_id and u.asset = e.asset""",
            ([k[0] for k in keys], [k[1] for k in keys])):
        events[(tenant, asset)].append(LotEvent(eid, book, asset, at, kind, Decimal(qty),
                                                Decimal(value) if value is not None else Decimal(0), tid, source))
    return events


def read_selections(conn: psycopg.Connection[Any], tenant: str) -> dict[str, list[tuple[str, Decimal]]]:
    chosen: dict[str, list[tuple[str, Decimal]]] = {}
    for disposal, lot, qty in conn.execute(
            "select disposal_event_id, lot_id, quantity from ops.lot_selections where tenant_id = %s "
            "order by disposal_event_id, ordinal", (tenant,)):
        chosen.setdefault(disposal, []).append((lot, Decimal(qty)))
    return chosen


UNIT_COLUMNS = ("tenant_id", "asset", "inputs_hash", "events", "methods", "engine", "seconds", "run_id")


def compute_tax_lots(wh: Warehouse, run_id: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Recompute the units whose inputs changed and replace their rows. Returns (rows written per result table,
    a summary: units, recomputed, removed, events read, engine seconds, slices, open lots, missing, warnings)."""
    with wh.connect() as conn:
        current = [Unit(*row) for row in conn.execute(UNIT_HASHES, {"edition": RULES_EDITION})]
        stored = dict(((t, a), h) for t, a, h in conn.execute(
            "select tenant_id, asset, inputs_hash from derived.lot_units"))
        todo, gone = changed_units(current, stored)
        events = read_events(conn, todo)
        selections = {t: read_selections(conn, t) for t in {u.tenant_id for u in todo}}
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in (*RESULT_TABLES, "lot_units")}
    totals = {"slices": 0, "open_lots": 0, "missing": 0, "warnings": 0}
    started = time.perf_counter()
    for unit in todo:
        t0 = time.perf_counter()
        result = compute_lots_fast(events[(unit.tenant_id, unit.asset)], unit.method_for_year(),
                                   default=Method(unit.specific_fallback), selections=selections[unit.tenant_id])
        seconds = time.perf_counter() - t0
        for table, table_rows in result_rows(unit, result, run_id).items():
            rows[table].extend(table_rows)
        rows["lot_units"].append((unit.tenant_id, unit.asset, unit.inputs_hash, unit.events, unit.describe_methods(),
                                  result.engine, Decimal(f"{seconds:.4f}"), run_id))
        totals["slices"] += len(result.slices)
        totals["open_lots"] += len(result.open_lots)
        totals["missing"] += len(result.missing)
        totals["warnings"] += len(result.warnings)
    engine_seconds = time.perf_counter() - started
    replace_units(wh, [*((u.tenant_id, u.asset) for u in todo), *gone], {**COLUMNS, "lot_units": UNIT_COLUMNS}, rows)
    summary = {"units": len(current), "recomputed": len(todo), "removed": len(gone),
               "events_read": sum(len(v) for v in events.values()), "engine_seconds": round(engine_seconds, 3),
               **totals}
    return {table: len(rows[table]) for table in RESULT_TABLES}, summary
