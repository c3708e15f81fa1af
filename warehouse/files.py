"""Writes of a CSV import: the file's records into raw.file_records, its rejected lines into ops.quarantine
(file, line, reason and the line's cells as the parser bounded them), and the tally into ops.imports, in one
transaction (a file is imported whole or not at all). Record identities are content hashes, so importing a file
again adds nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from warehouse.connection import Warehouse
from warehouse.loader import copy_insert

FILE_RECORDS = "raw.file_records"
FILE_COLUMNS = ("tenant_id", "account_id", "source", "source_record_id", "record_type", "occurred_at", "base_asset",
                "quote_asset", "side", "quantity", "price", "cost", "asset", "amount", "fee_amount", "fee_asset",
                "venue_record_id", "txid", "income_kind", "file_name", "file_sha256", "line_numbers", "payload",
                "record_hash", "run_id")


@dataclass(frozen=True)
class RejectedLine:
    line: int
    reason: str
    row: Any  # the delivered cells (JSON-able, no NUL), cut to a bounded size by the parser
    truncated: bool = False  # the cells were cut: the quarantine row says so


@dataclass(frozen=True)
class ImportTally:
    rows_in: int
    quarantined: int
    ignored: int


def store_file_import(wh: Warehouse, *, tenant_id: str, account_id: str, source: str, fmt: str, file_name: str,
                      file_sha256: str, rows: Sequence[Sequence[Any]], rejected: Sequence[RejectedLine],
                      tally: ImportTally, run_id: str | None) -> int:
    """Returns the records newly inserted (the rest were already there)."""
    with wh.connect() as conn, conn.transaction():
        inserted = copy_insert(conn, FILE_RECORDS, FILE_COLUMNS, rows) if rows else 0
        for reject in rejected:
            conn.execute(
                """insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id, payload,
                                              check_name, reason, run_id)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing""",
                (tenant_id, account_id, source, FILE_RECORDS, f"{file_sha256[:16]}:{reject.line}",
                 Jsonb({"file": file_name, "file_sha256": file_sha256, "line": reject.line, "row": reject.row,
                        **({"truncated": True} if reject.truncated else {})}),
                 f"import:{fmt}", f"{file_name} line {reject.line}: {reject.reason}", run_id))
        conn.execute(
            """insert into ops.imports (tenant_id, account_id, file_name, file_sha256, format, rows_in, loaded_new,
                                       duplicates, quarantined, ignored, run_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (tenant_id, account_id, file_name, file_sha256, fmt, tally.rows_in, inserted, len(rows) - inserted,
             tally.quarantined, tally.ignored, run_id))
    return inserted
