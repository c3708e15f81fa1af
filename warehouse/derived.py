"""Writes of the Python assets between the models (schema `derived`): a table replaced whole (left as it is when
its content did not change), or the rows of some units (tenant × asset) replaced in several tables at once —
always in one transaction, so readers see the old results or the new ones, never a mix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from warehouse.connection import Warehouse
from warehouse.loader import analyze_if_grown, copy_rows, identifier

BOOKKEEPING = ("run_id", "computed_at")  # which run wrote a row, and when: not its content


def _derived(table: str) -> sql.Composable:
    return sql.Identifier("derived", identifier(table))


def replace_tables(wh: Warehouse, columns: Mapping[str, Sequence[str]],
                   rows: Mapping[str, Sequence[Sequence[Any]]],
                   bookkeeping: Sequence[str] = BOOKKEEPING) -> dict[str, int]:
    """Replace each derived table named in `columns` by its new rows, in one transaction. A table whose new rows
    are its current ones, `bookkeeping` columns aside (which run wrote them, and when), is left as it is: what
    reads it (the models above it, services/dbt_reuse) sees no change, and its run_id stays the run that first
    computed this content."""
    written = {}
    with wh.connect() as conn, conn.transaction():
        for table, cols in columns.items():
            target = _derived(table)
            conn.execute(sql.SQL("create temp table _new (like {} including defaults) on commit drop").format(target))
            written[table] = copy_rows(conn, "pg_temp._new", cols, rows.get(table, ()))
            compared = sql.SQL(", ").join(sql.Identifier(c) for c in cols if c not in bookkeeping)
            changed = conn.execute(sql.SQL("""select exists (select {c} from _new except all select {c} from {t})
                                                  or exists (select {c} from {t} except all select {c} from _new)""")
                                   .format(c=compared, t=target)).fetchone()[0]
            if changed:
                conn.execute(sql.SQL("delete from {}").format(target))
                conn.execute(sql.SQL("insert into {t} ({c}) select {c} from _new").format(
                    t=target, c=sql.SQL(", ").join(sql.Identifier(c) for c in cols)))
                analyze_if_grown(conn, f"derived.{table}", written[table])
            conn.execute("drop table _new")
    return written


def replace_units(wh: Warehouse, keys: Sequence[tuple[str, str]], columns: Mapping[str, Sequence[str]],
                  rows: Mapping[str, Sequence[Sequence[Any]]]) -> None:
    """For the (tenant_id, asset) `keys`: delete their rows in every table of `columns`, then COPY the new
    rows of each, in one transaction."""
    with wh.connect() as conn, conn.transaction():
        if keys:
            tenants, assets = [k[0] for k in keys], [k[1] for k in keys]
            for table in columns:
                conn.execute(sql.SQL("delete from {} where (tenant_id, asset) in "
                                     "(select * from unnest(%s::text[], %s::text[]))").format(_derived(table)),
                             (tenants, assets))
        for table, cols in columns.items():
            copy_rows(conn, f"derived.{table}", cols, rows.get(table, ()))
