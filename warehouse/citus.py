"""Scale-out by tenant with Citus (issue 17 §4): how each table of the warehouse would be placed, read from the
catalog, and the checks that make the schema distributable without a redesign. Citus is not installable here;
`deploy/citus.md` holds the plan this module prints (`coinbook warehouse citus-plan`), and
tests/integration/test_citus_plan.py proves the schema fits it and the file is current.

Placement:
- **distributed by tenant_id**, all co-located: every table holding a tenant's data — its rows, and every join
  between them, stay on one worker;
- **reference** (a copy on every node): public market data and the small tables every node reads to answer a
  tenant's query — ops.tenants and ops.user_tenants (the row-level security policies look logins up there);
- **distributed by source**: raw.price_ticks (all under the public tenant: by tenant_id it would be one shard; by
  venue a (venue, day) stays whole on one node, as it is loaded, digested and chained as a unit);
- **local** on the coordinator: bookkeeping nobody joins (the migrations' ledger, the lists of V029 that the
  securing functions read where DDL runs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

Placement = Literal["distributed", "reference", "local"]
SCHEMAS = ("raw", "ops", "derived", "audit")

# Public market data (tickers, candles, the tick loads' bookkeeping), the sanctions lists (V023: public, no tenant)
# and what every node must read.
_REFERENCE = re.compile(r"^(raw\.[a-z0-9_]+_(tickers|ohlcv)"
                        r"|ops\.(tick_loads|tenants|user_tenants|sanctions_lists|sanctioned_addresses))$")
# audit.tick_hours (V029) beside the ticks it digests: a load writes both in one transaction, on one node.
_BY_COLUMN = {"raw.price_ticks": "source", "audit.tick_hours": "source"}
# The lists the securing functions read (V029) are read where DDL runs, on the coordinator.
_LOCAL = {"ops.schema_migrations", "ops.relation_readers", "audit.chained_tables"}


@dataclass(frozen=True)
class TablePlan:
    table: str
    placement: Placement
    column: str | None = None  # the distribution column

    def statement(self) -> str:
        if self.placement == "distributed":
            # tables distributed on a column of the same type share shards by default (Citus's co-location
            # "default"): a tenant's rows of every table on one worker
            return f"select create_distributed_table('{self.table}', '{self.column}');"
        if self.placement == "reference":
            return f"select create_reference_table('{self.table}');"
        return f"-- {self.table}: stays local on the coordinator"


@dataclass(frozen=True)
class Problem:
    table: str
    problem: str


def _columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    return {c for (c,) in conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped",
        (table,))}


def tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table of Coinbook's own schemas (a partitioned table once, not its partitions)."""
    return [t for (t,) in conn.execute(
        """select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'p') and not c.relispartition order by 1""",
        (list(SCHEMAS),))]


def place(table: str, columns: set[str]) -> TablePlan:
    if table in _LOCAL:
        return TablePlan(table, "local")
    if _REFERENCE.match(table):
        return TablePlan(table, "reference")
    if table in _BY_COLUMN:
        return TablePlan(table, "distributed", _BY_COLUMN[table])
    if "tenant_id" in columns:
        return TablePlan(table, "distributed", "tenant_id")
    raise ValueError(f"{table} has no tenant_id and no placement rule: every table carries tenant_id "
                     "(or is public reference data named in warehouse/citus.py)")


def plan(conn: psycopg.Connection[Any]) -> list[TablePlan]:
    return [place(t, _columns(conn, t)) for t in tables(conn)]


def problems(conn: psycopg.Connection[Any], planned: list[TablePlan]) -> list[Problem]:
    """What Citus would refuse: a primary key or unique index of a distributed table without its distribution
    column; a foreign key from a reference or local table to a distributed one, or between distributed tables
    not on the distribution column on both sides."""
    by_table = {p.table: p for p in planned}
    found: list[Problem] = []
    for p in planned:
        if p.placement != "distributed":
            continue
        for index, cols in conn.execute(
                """select i.indexrelid::regclass::text,
                          array(select a.attname::text from unnest(i.indkey) with ordinality k (attnum, o)
                                  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                                 order by k.o)
                     from pg_index i where i.indrelid = %s::regclass and i.indisunique""", (p.table,)):
            if p.column not in cols:
                found.append(Problem(p.table, f"unique index {index} ({', '.join(cols)}) lacks {p.column}"))
    for child, parent, child_cols, parent_cols in conn.execute(
            """select conrelid::regclass::text, confrelid::regclass::text,
                      array(select a.attname::text from unnest(conkey) with ordinality k (attnum, o)
                              join pg_attribute a on a.attrelid = conrelid and a.attnum = k.attnum order by k.o),
                      array(select a.attname::text from unnest(confkey) with ordinality k (attnum, o)
                              join pg_attribute a on a.attrelid = confrelid and a.attnum = k.attnum order by k.o)
                 from pg_constraint where contype = 'f'"""):
        c, f = by_table.get(child), by_table.get(parent)
        if c is None or f is None:
            continue
        if f.placement == "distributed" and c.placement != "distributed":
            found.append(Problem(child, f"foreign key to distributed {parent} from a {c.placement} table"))
        elif f.placement == "distributed" and (c.column not in child_cols or f.column not in parent_cols
                                               or child_cols.index(c.column) != parent_cols.index(f.column)):
            found.append(Problem(child, f"foreign key to {parent} not on the distribution column"))
    return found


BEGIN, END = "-- BEGIN generated by `coinbook warehouse citus-plan`", "-- END generated"


def foreign_keys(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(c, f) for c, f in conn.execute(
        "select conrelid::regclass::text, confrelid::regclass::text from pg_constraint where contype = 'f'")]


def render(planned: list[TablePlan], fks: list[tuple[str, str]]) -> str:
    """The SQL block of deploy/citus.md: reference tables first, then the distributed ones with every table after
    those its foreign keys point at (Citus distributes a referencing table only once its target is placed)."""
    order = {"reference": 0, "distributed": 1, "local": 2}
    pending = sorted(planned, key=lambda p: (order[p.placement], p.table))
    targets = {c: {f for cc, f in fks if cc == c and f != c} for c, _ in fks}
    done: set[str] = set()
    ordered: list[TablePlan] = []
    while pending:
        ready = next(p for p in pending if targets.get(p.table, set()) <= done | {q.table for q in ordered})
        ordered.append(ready)
        done.add(ready.table)
        pending.remove(ready)
    return "\n".join([BEGIN, *(p.statement() for p in ordered), END])
