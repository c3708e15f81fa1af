"""Writes of sanctions screening (migration V023): a list version and its addresses, and a reviewer's decision on
a hit. Plain rows in (no pipelines imports): the service parses the file and checks the hit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from warehouse.connection import Warehouse


@dataclass(frozen=True)
class ListVersion:
    list_id: int
    list_name: str
    version: str
    sha256: str
    entry_count: int
    address_count: int
    loaded_at: datetime
    loaded_by: str
    new: bool  # False: this very file was loaded before (nothing written)


_VERSION_COLUMNS = "list_id, list_name, version, sha256, entry_count, address_count, loaded_at, loaded_by"


def store_list(wh: Warehouse, *, list_name: str, list_format: str, version: str, published_on: date | None,
               file_name: str, sha256: str, entry_count: int,
               addresses: Sequence[tuple[str, str, str | None, Sequence[str], str, str, str, str | None]]
               ) -> ListVersion:
    """One version of a list and its addresses (entry_uid, entry_name, entry_type, programs, ticker, address,
    address_key, note), in one transaction; the same file (list name and sha256) again writes nothing."""
    with wh.connect() as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('ops.sanctions_lists'), hashtext(%s))", (list_name,))
        row = conn.execute(f"select {_VERSION_COLUMNS} from ops.sanctions_lists where list_name = %s and sha256 = %s",
                           (list_name, sha256)).fetchone()
        if row:
            return ListVersion(*row, new=False)
        row = conn.execute(
            f"""insert into ops.sanctions_lists (list_name, list_format, version, published_on, file_name, sha256,
                                                 entry_count, address_count)
                values (%s, %s, %s, %s, %s, %s, %s, %s) returning {_VERSION_COLUMNS}""",
            (list_name, list_format, version, published_on, file_name, sha256, entry_count, len(addresses))
        ).fetchone()
        assert row is not None
        with conn.cursor().copy("copy ops.sanctioned_addresses (list_id, entry_uid, entry_name, entry_type, programs, "
                                "ticker, address, address_key, note) from stdin") as copy:
            for a in addresses:
                copy.write_row((row[0], *a[:3], list(a[3]), *a[4:]))
    return ListVersion(*row, new=True)


def list_versions(wh: Warehouse) -> list[tuple[Any, ...]]:
    with wh.connect() as conn:
        return conn.execute(
            """select list_name, version, list_format, entry_count, address_count, sha256, loaded_at, loaded_by
                 from ops.sanctions_lists order by list_name, published_on nulls first, loaded_at""").fetchall()


def record_decision(wh: Warehouse, tenant_id: str, hit_id: str, decision: str, reason: str) -> tuple[int, str,
                                                                                                        datetime]:
    """Appends a decision (who: the session's login, by the column's default); returns its id, actor and time."""
    with wh.connect() as conn:
        row = conn.execute(
            """insert into ops.screening_decisions (tenant_id, hit_id, decision, reason) values (%s, %s, %s, %s)
               returning decision_id, decided_by, decided_at""", (tenant_id, hit_id, decision, reason)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def decisions(wh: Warehouse, tenant_id: str, hit_id: str) -> Iterable[tuple[Any, ...]]:
    with wh.connect() as conn:
        return conn.execute("select decision_id, decision, reason, decided_by, decided_at from ops.screening_decisions "
                            "where tenant_id = %s and hit_id = %s order by decision_id", (tenant_id, hit_id)).fetchall()
