"""The compliance pack as known at a knowledge time K (issue 16 §4): what the firm had been told, and had recorded,
by then. The pack's queries stay as they are; what they read is swapped for temporary relations (this connection's
own, dropped afterwards) that hold only what was known at K:

    marts.ledger                        its rows whose raw record was ingested by K (as reports/asof.py)
    marts.disposals                     the lot engine over that ledger with the cost basis, method and selections
                                        recorded by K (reports/asof.disposals_as_of)
    marts.income                        its receipts among those ledger rows
    marts.large_transfers,              the marts' own view definitions over the transfers among those ledger rows
    marts.unhosted_wallet_transfers     and the thresholds set by K
    marts.screening_hits                its view definition over the matches whose record was ingested by K and whose
                                        list entry was loaded by K, and the decisions recorded by K
    marts.kyc_status                    its view definition over the subjects and reviews recorded by K, judged on
                                        K's UTC day (not today's)
    marts.reconciliation_break_history  the builds observed by K
    ops.quarantine                      the rows quarantined by K

The registers (decisions, KYC, thresholds) are append-only, each row stamped by the database with when it was
recorded (V023, V024, V030): their rows up to K are exactly what was recorded then. What is approximated (today's
models applied to what was known at K: prices, the list version a hit names) is in the README's as-of section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from pipelines.domain.asof import DISPOSAL_COLUMNS
from pipelines.services.reports.asof import disposals_as_of

RECORDS = "pack_known_records"

# every raw table of Coinbook's record layout (the price ticks are the public market data, in no tenant's pack)
RAW_TABLES_SQL = """
select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = 'raw' and c.relkind in ('r', 'p') and not c.relispartition and c.relname not like 'price\\_ticks%'
  and (select count(*) from pg_attribute as a where a.attrelid = c.oid and not a.attisdropped
       and a.attname in ('tenant_id', 'account_id', 'source', 'source_record_id', 'ingested_at')) = 5
order by 1
"""


def stand_in(relation: str) -> str:
    """A relation's stand-in: the same name in this session's temporary schema, so that a view definition that
    names a column by its table (`kyc_subjects.tenant_id`) still reads it."""
    return f"pg_temp.{relation.split('.', 1)[1]}"


def rewrite(text: str, swaps: dict[str, str]) -> str:
    """`text` (SQL) with each relation of `swaps` replaced by its stand-in, whole names only."""
    if not swaps:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(name) for name in sorted(swaps, key=len, reverse=True))
                         + r")(?![\w])")
    return pattern.sub(lambda m: swaps[m[1]], text)


def _exists(conn: psycopg.Connection[Any], relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _view(conn: psycopg.Connection[Any], relation: str, query: sql.Composable) -> None:
    conn.execute(sql.SQL("create temporary view {} as ").format(sql.Identifier(relation.split(".", 1)[1])) + query)


def _redefined(conn: psycopg.Connection[Any], view: str, swaps: dict[str, str], known_at: datetime) -> sql.Composable:
    """A mart view's own definition over the stand-ins, its `now()` (a view judged when read) at K."""
    (definition,) = conn.execute("select pg_get_viewdef(%s::regclass)", (view,)).fetchone()
    moment = sql.Literal(known_at).as_string(conn)
    return sql.SQL(rewrite(definition.rstrip().rstrip(";"), swaps).replace("now()", f"{moment}::timestamptz"))


# relation -> what of it was known at K ({k}: K; {records}: the records ingested by K; {ledger}: their ledger rows)
FILTERS = {
    "marts.income": "select i.* from marts.income as i where i.event_id in (select ledger_entry_id from {ledger})",
    "marts.transfers_valued": "select v.* from marts.transfers_valued as v "
                              "where v.transfer_key in (select ledger_entry_id from {ledger})",
    "ops.compliance_thresholds": "select * from ops.compliance_thresholds where set_at <= {k}",
    "ops.screening_decisions": "select * from ops.screening_decisions where decided_at <= {k}",
    "ops.kyc_subjects": "select * from ops.kyc_subjects where recorded_at <= {k}",
    "ops.kyc_reviews": "select * from ops.kyc_reviews where recorded_at <= {k}",
    # a hit known at K: its record ingested by K, its list entry in a version of the list loaded by K
    "marts.screening_matches": "select m.* from marts.screening_matches as m where exists (select 1 from {records} "
                               "as r where r.account_id = m.account_id and r.source = m.source and r.source_record_id "
                               "= m.source_record_id) and exists (select 1 from ops.sanctioned_addresses as a join "
                               "ops.sanctions_lists as s on s.list_id = a.list_id where s.list_name = m.list_name and "
                               "a.entry_uid = m.entry_uid and s.loaded_at <= {k})",
    "marts.reconciliation_break_history": "select * from marts.reconciliation_break_history where observed_at <= {k}",
    "ops.quarantine": "select * from ops.quarantine where quarantined_at <= {k}",
}
# views of the marts restated over the stand-ins (their own definitions)
REDEFINED = ("marts.large_transfers", "marts.unhosted_wallet_transfers", "marts.screening_hits", "marts.kyc_status")


@contextmanager
def known_at_relations(conn: psycopg.Connection[Any], tenant: str, known_at: datetime,
                       window_end: datetime) -> Iterator[dict[str, str]]:
    """The stand-ins of the relations the pack reads, as known at `known_at`, for `tenant` and disposals up to
    `window_end` (exclusive); yields {relation: stand-in} to rewrite the pack's SQL with; drops them afterwards."""
    made: list[tuple[str, str]] = []  # (kind, stand-in)
    swaps: dict[str, str] = {}
    try:
        union = sql.SQL(" union all ").join(
            sql.SQL("select {}::text as raw_table, account_id, source, source_record_id from {} "
                    "where tenant_id = {} and ingested_at <= {}").format(
                sql.Literal(f"raw.{name}"), sql.Identifier("raw", name), sql.Literal(tenant), sql.Literal(known_at))
            for (name,) in conn.execute(RAW_TABLES_SQL).fetchall())
        conn.execute(sql.SQL("create temporary table {} as ").format(sql.Identifier(RECORDS)) + union)
        made.append(("table", f"pg_temp.{RECORDS}"))
        conn.execute(sql.SQL("create index on {} (account_id, source, source_record_id)").format(
            sql.Identifier(RECORDS)))
        ledger = stand_in("marts.ledger")
        _view(conn, "marts.ledger", sql.SQL(
            "select l.* from marts.ledger as l where l.tenant_id = {t} and exists (select 1 from {r} as r "
            "where r.raw_table = l.raw_table and r.account_id = l.account_id and r.source = l.source "
            "and r.source_record_id = l.source_record_id)").format(t=sql.Literal(tenant),
                                                                   r=sql.Identifier(RECORDS)))
        made.append(("view", ledger))
        swaps["marts.ledger"] = ledger

        if _exists(conn, "marts.disposals") and _exists(conn, "intermediate.int_lot_events"):
            rows = disposals_as_of(conn, tenant, window_end - timedelta(microseconds=1), known_at)
            conn.execute("create temporary table disposals (like marts.disposals)")
            made.append(("table", stand_in("marts.disposals")))
            columns = sql.SQL(", ").join(map(sql.Identifier, DISPOSAL_COLUMNS))
            with conn.cursor() as cur, cur.copy(sql.SQL("copy pg_temp.disposals ({}) from stdin").format(
                    columns)) as copy:
                for row in rows:
                    copy.write_row(row)
            swaps["marts.disposals"] = stand_in("marts.disposals")

        for relation, query in FILTERS.items():
            if _exists(conn, relation):
                _view(conn, relation, sql.SQL(query).format(k=sql.Literal(known_at), records=sql.Identifier(RECORDS),
                                                            ledger=sql.SQL(ledger)))
                made.append(("view", stand_in(relation)))
                swaps[relation] = stand_in(relation)
        for relation in REDEFINED:
            if _exists(conn, relation):
                _view(conn, relation, _redefined(conn, relation, swaps, known_at))
                made.append(("view", stand_in(relation)))
                swaps[relation] = stand_in(relation)
        yield swaps
    finally:
        # in a failed transaction there is nothing to drop: its rollback takes them away
        for kind, relation in reversed(made if conn.info.transaction_status != TransactionStatus.INERROR else []):
            conn.execute(sql.SQL(f"drop {kind} if exists {relation} cascade"))  # type: ignore[arg-type]
