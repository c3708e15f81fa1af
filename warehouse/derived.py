"""Writes of the Python assets between the models (schema `derived`): a table replaced whole, or the rows of
some units (tenant × asset) replaced in several tables at once — always in one transaction, so readers see
the old results or the new ones, never a mix. Bare COPY: the rows were just deleted, there is nothing to
conflict with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from warehouse.connection import Warehouse
from warehouse.loader import copy_rows, identifier


def _derived(table: str) -> sql.Composable:
    return sql.Identifier("derived", identifier(table))


def replace_tables(wh: Warehouse, columns: Mapping[str, Sequence[str]],
                   rows: Mapping[str, Sequence[Sequence[Any]]]) -> dict[str, int]:
    """Empty each derived table named in `columns` and COPY its new rows, in one transaction."""
    written = {}
    with wh.connect() as conn, conn.transaction():
        for table, cols in columns.items():
            conn.execute(sql.SQL("delete from {}").format(_derived(table)))
            written[table] = copy_rows(conn, f"derived.{table}", cols, rows.get(table, ()))
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
