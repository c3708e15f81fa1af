"""As-of reports (issue 16 §4): positions and disposals as of a valid time T, as known at a knowledge time K.

What was known at K: the raw records ingested at or before K (every raw table's `ingested_at`) and the human
changes recorded at or before K (ops.<table>_history, V025). The ledger's dbt transformations are not re-run: each
row of marts.ledger names its raw record (raw_table, account, source, source_record_id), so a ledger row as known at
K is one whose raw record was ingested by K — and every leg of a record shares that record. Lot events are
int_lot_events' rows of those entries, restated as they were at K (pipelines/domain/asof.py: cost basis, book scope,
a transfer whose other leg came later); the pure lot engine then runs over them with the method, fallback and
specific-identification choices as recorded at K. What this reproduces exactly and what it approximates: README,
"As-of reports: what was known, when".

For other reports (the compliance pack): `ledger_as_known`, `positions_as_of`, `disposals_as_of` take an open
connection, a tenant and two aware datetimes; `write_report` writes the CSV the CLI writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from pipelines.domain.asof import (
    DISPOSAL_COLUMNS,
    Basis,
    HistoryRow,
    KnownEvent,
    Rendered,
    as_recorded,
    disposal_rows,
    events_as_known,
    render_csv,
)
from pipelines.domain.lots import LotEvent, Method
from pipelines.domain.lots_fast import compute_lots_fast

LEDGER_COLUMNS = ("ledger_entry_id", "tenant_id", "portfolio_id", "account_id", "source", "source_record_id",
                  "raw_table", "record_hash", "entry_type", "leg", "occurred_at", "asset", "quantity", "counter_asset",
                  "txid", "transfer_match_id", "counter_account_id", "treatment")

POSITION_COLUMNS = ("tenant_id", "portfolio_id", "account_id", "asset", "quantity", "entries", "last_movement_at")

# A ledger entry's raw record, for each raw table the tenant's ledger names (identifiers checked against the catalog)
RAW_TABLES_SQL = """
select t.raw_table, n.nspname, c.relname
from (select distinct raw_table from marts.ledger where tenant_id = %s) as t
join pg_class as c on c.oid = to_regclass(t.raw_table)
join pg_namespace as n on n.oid = c.relnamespace and n.nspname = 'raw'
order by 1
"""


def _ingested(tables: Sequence[tuple[str, str, str]]) -> sql.Composed:
    """One relation of (raw_table, account_id, source, source_record_id, ingested_at) over the tenant's raw tables."""
    parts = [sql.SQL("select {name}::text as raw_table, account_id, source, source_record_id, ingested_at "
                     "from {table} where tenant_id = %(tenant)s").format(name=sql.Literal(name),
                                                                         table=sql.Identifier(schema, table))
             for name, schema, table in tables]
    return sql.SQL(" union all ").join(parts)


def ledger_as_known(conn: psycopg.Connection[Any], tenant: str, as_of: datetime,
                    known_at: datetime) -> list[dict[str, Any]]:
    """marts.ledger as known at `known_at`, up to `as_of`: each row with its record's `ingested_at`, in ledger order.
    A ledger row whose raw record cannot be found (none is expected: the join is checked by the tests) is left out."""
    tables = conn.execute(RAW_TABLES_SQL, (tenant,)).fetchall()
    if not tables:
        return []
    columns = sql.SQL(", ").join(sql.SQL("l.{}").format(sql.Identifier(c)) for c in LEDGER_COLUMNS)
    query = sql.SQL("""
        with ingested as ({ingested})
        select {columns}, i.ingested_at
        from marts.ledger as l
        join ingested as i
          on i.raw_table = l.raw_table and i.account_id = l.account_id and i.source = l.source
         and i.source_record_id = l.source_record_id
        where l.tenant_id = %(tenant)s and l.occurred_at <= %(as_of)s and i.ingested_at <= %(known_at)s
        order by l.occurred_at, l.ledger_entry_id""").format(ingested=_ingested(tables), columns=columns)
    cur = conn.execute(query, {"tenant": tenant, "as_of": as_of, "known_at": known_at})
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def positions_as_of(conn: psycopg.Connection[Any], tenant: str, as_of: datetime, known_at: datetime,
                    ledger: Sequence[dict[str, Any]] | None = None) -> list[tuple[Any, ...]]:
    """What the ledger held per account and asset at `as_of`, as known at `known_at` (POSITION_COLUMNS): the rule of
    marts.positions' exchange and wallet holdings (protocol receipt tokens and spam left out); no prices, no DeFi
    snapshots. `ledger`: ledger_as_known's rows for the same arguments, when the caller has them."""
    held: dict[tuple[str | None, str, str], list[Any]] = {}
    for row in ledger if ledger is not None else ledger_as_known(conn, tenant, as_of, known_at):
        if row["entry_type"] in ("defi_receipt", "spam"):
            continue
        key = (row["portfolio_id"], row["account_id"], row["asset"])
        entry = held.setdefault(key, [Decimal(0), 0, row["occurred_at"]])
        entry[0] += row["quantity"]
        entry[1] += 1
        entry[2] = max(entry[2], row["occurred_at"])
    return [(tenant, p, a, asset, q, n, last) for (p, a, asset), (q, n, last) in
            sorted(held.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0] or ""))]


def history(conn: psycopg.Connection[Any], table: str, tenant: str) -> list[HistoryRow]:
    """ops.<table>_history of a tenant; the rows' numbers as Decimal (jsonb numbers are exact, floats are not)."""
    return [HistoryRow(key, at, hid, op, json.loads(data, parse_float=Decimal)) for key, at, hid, op, data in
            conn.execute(sql.SQL("select record_key, recorded_at, history_id, op, row_data::text from {} "
                                 "where tenant_id = %s order by history_id")
                         .format(sql.Identifier("ops", f"{table}_history")), (tenant,))]


@dataclass(frozen=True)
class Choices:
    """The tenant's lot choices as recorded at K."""

    universal_book: bool
    default_method: Method
    fallback: Method
    elections: tuple[tuple[int, Method], ...]  # (from tax year, method)
    basis: dict[str, Basis]
    selections: dict[str, list[tuple[str, Decimal]]]
    overrides: tuple[tuple[str, str | None, str | None], ...]  # (decision, out_entry_id, in_entry_id)

    def method_for_year(self, year: int) -> Method:
        chosen = self.default_method
        for from_year, method in self.elections:
            if from_year <= year:
                chosen = method
        return chosen


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def choices_at(conn: psycopg.Connection[Any], tenant: str, known_at: datetime) -> Choices:
    settings = next(iter(as_recorded(history(conn, "lot_settings", tenant), known_at).values()), {})
    methods = as_recorded(history(conn, "lot_methods", tenant), known_at).values()
    basis = {row["entry_id"]: Basis(Decimal(str(row["cost"])), _time(row.get("acquired_at")))
             for row in as_recorded(history(conn, "cost_basis", tenant), known_at).values()}
    selections: dict[str, list[tuple[str, Decimal]]] = {}
    for row in sorted(as_recorded(history(conn, "lot_selections", tenant), known_at).values(),
                      key=lambda r: (r["disposal_event_id"], int(r["ordinal"]))):
        selections.setdefault(row["disposal_event_id"], []).append((row["lot_id"], Decimal(str(row["quantity"]))))
    overrides = tuple((r["decision"], r.get("out_entry_id"), r.get("in_entry_id"))
                      for r in as_recorded(history(conn, "transfer_overrides", tenant), known_at).values())
    return Choices(settings.get("book_scope", "account") == "universal",
                   Method(settings.get("default_method", "fifo")), Method(settings.get("specific_fallback", "fifo")),
                   tuple(sorted((int(r["tax_year"]), Method(r["method"])) for r in methods)), basis, selections,
                   overrides)


EVENTS_SQL = """
select e.event_id, e.book, e.asset, e.occurred_at, e.kind, e.quantity, e.value_usd, e.transfer_id, e.source,
       e.account_id, e.portfolio_id, e.counter_asset, e.basis_unknown, e.proceeds_unknown, e.basis_acquired_at
from intermediate.int_lot_events as e
where e.tenant_id = %s and e.event_id = any(%s)
"""

# matches made by an override: unmade at K when K did not know that override
OVERRIDE_MATCHES_SQL = """
select match_id, out_entry_id, in_entry_id from derived.transfer_matches where tenant_id = %s and method = 'override'
"""


def lot_events_as_known(conn: psycopg.Connection[Any], tenant: str, as_of: datetime, known_at: datetime,
                        choices: Choices, ledger: Sequence[dict[str, Any]] | None = None) -> list[KnownEvent]:
    if ledger is None:
        ledger = ledger_as_known(conn, tenant, as_of, known_at)
    ids = [row["ledger_entry_id"] for row in ledger]
    events = [KnownEvent(LotEvent(eid, book, asset, at, kind, Decimal(qty),
                                  Decimal(value) if value is not None else Decimal(0), tid, source),
                         account, portfolio, counter, bool(unknown_basis), bool(unknown_proceeds), basis_at)
              for (eid, book, asset, at, kind, qty, value, tid, source, account, portfolio, counter, unknown_basis,
                   unknown_proceeds, basis_at) in conn.execute(EVENTS_SQL, (tenant, ids))]
    made = {(o, i) for decision, o, i in choices.overrides if decision == "match"}
    unmatched = frozenset(m for m, o, i in conn.execute(OVERRIDE_MATCHES_SQL, (tenant,)) if (o, i) not in made)
    return events_as_known(events, choices.basis, choices.universal_book, unmatched)


def disposals_as_of(conn: psycopg.Connection[Any], tenant: str, as_of: datetime, known_at: datetime,
                    ledger: Sequence[dict[str, Any]] | None = None) -> list[tuple[Any, ...]]:
    """Every lot slice disposed of up to `as_of`, as known at `known_at`, in marts.disposals' columns
    (DISPOSAL_COLUMNS), ordered by disposal time, disposal and slice."""
    choices = choices_at(conn, tenant, known_at)
    events = lot_events_as_known(conn, tenant, as_of, known_at, choices, ledger)
    by_asset: dict[str, list[KnownEvent]] = {}
    for e in events:
        by_asset.setdefault(e.event.asset, []).append(e)
    rows: list[tuple[Any, ...]] = []
    for asset in sorted(by_asset):
        unit = by_asset[asset]
        result = compute_lots_fast([e.event for e in unit], choices.method_for_year, default=choices.fallback,
                                   selections=choices.selections)
        rows.extend(disposal_rows(tenant, result.slices, unit))
    column = {name: i for i, name in enumerate(DISPOSAL_COLUMNS)}
    return sorted(rows, key=lambda r: (r[column["disposed_at"]], r[column["disposal_event_id"]],
                                       r[column["slice_no"]]))


# ---------------------------------------------------------------------------------------------------- the files


@dataclass(frozen=True)
class AsOfReport:
    path: Path
    rendered: Rendered
    zone: str
    as_of: datetime
    known_at: datetime


def write_report(conn: psycopg.Connection[Any], kind: str, tenant: str, as_of: datetime, known_at: datetime,
                 zone: ZoneInfo, out_dir: Path) -> AsOfReport:
    """positions or disposals of `tenant` as of `as_of` known at `known_at`, into `out_dir`. The file's name and
    content depend on the tenant, kind and the two instants only, so a re-performed report is compared byte for
    byte (`cmp`), and its rows_sha256 line with the one of the report it re-performs."""
    if conn.execute("select to_regclass('marts.ledger') is null or to_regclass('intermediate.int_lot_events') "
                    "is null").fetchone()[0]:
        raise LookupError("the ledger is not built yet: run `coinbook run` first")
    ledger = ledger_as_known(conn, tenant, as_of, known_at)
    if kind == "positions":
        columns, rows = POSITION_COLUMNS, positions_as_of(conn, tenant, as_of, known_at, ledger)
    elif kind == "disposals":
        columns, rows = DISPOSAL_COLUMNS, disposals_as_of(conn, tenant, as_of, known_at, ledger)
    else:
        raise ValueError(f"unknown as-of report {kind!r}: positions or disposals")
    header = [f"coinbook {kind} report, tenant {tenant}, time zone {zone.key} (a date means the end of that day)",
              f"as_of: {as_of.astimezone(zone).isoformat()}: what had happened by then",
              f"known_at: {known_at.astimezone(zone).isoformat()}: raw records ingested and human changes "
              "recorded by then",
              # the latest record the report rests on: a record ingested after it but by known_at was not in the
              # built ledger when the report was made (or is not a ledger record); see README, As-of reports
              "records_through: " + (max(r["ingested_at"] for r in ledger).astimezone(zone).isoformat()
                                     if ledger else "none") + ": the latest ingested record the ledger rows rest on",
              "instants in the rows: UTC"]
    rendered = render_csv(header, columns, rows)
    stamp = known_at.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%S%fZ")
    path = out_dir / f"{kind}_{tenant}_asof_{as_of.astimezone(ZoneInfo('UTC')).strftime('%Y%m%dT%H%M%S%fZ')}" \
                     f"_known_{stamp}.csv"
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rendered.content)
    return AsOfReport(path, rendered, zone.key, as_of, known_at)
