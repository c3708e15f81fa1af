"""Writes of a CSV import: the file's records into raw.file_records, its rejected lines into ops.quarantine
(file, line, reason and the line's cells as the parser bounded them), and the tally into ops.imports (with the
ignored lines' reasons, grouped), in one transaction (a file is imported whole or not at all). Record identities
are content hashes, so importing a file again adds nothing, and an import that changed nothing is not recorded
twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
    lines_loaded: int = 0  # data lines that became records (a record may come from several lines)
    ignored_reasons: dict[str, int] = field(default_factory=dict)  # why lines were ignored → how many


@dataclass(frozen=True)
class StoredImport:
    inserted: int  # records newly inserted (the rest were already there)
    import_id: int  # the ops.imports row: this import's, or the earlier one when nothing changed
    imported_at: datetime
    repeated: bool  # the same file, already imported into this account with the same outcome: nothing written


def store_file_import(wh: Warehouse, *, tenant_id: str, account_id: str, source: str, fmt: str, file_name: str,
                      file_sha256: str, rows: Sequence[Sequence[Any]], rejected: Sequence[RejectedLine],
                      tally: ImportTally, run_id: str | None) -> StoredImport:
    """Records, quarantine rows and the ops.imports tally in one transaction. Importing a file again into the same
    account adds nothing: when no record and no quarantine row is new and an earlier import of the file had the
    same tally, that import stands and no row is added to ops.imports (the same file twice changes nothing)."""
    with wh.connect() as conn, conn.transaction():
        # one import of a given file into a given account at a time: the check below sees the other's row
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (f"import|{tenant_id}|{account_id}|{file_sha256}",))
        inserted = copy_insert(conn, FILE_RECORDS, FILE_COLUMNS, rows) if rows else 0
        quarantined_new = 0
        for reject in rejected:
            cursor = conn.execute(
                """insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id, payload,
                                              check_name, reason, run_id)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing""",
                (tenant_id, account_id, source, FILE_RECORDS, f"{file_sha256[:16]}:{reject.line}",
                 Jsonb({"file": file_name, "file_sha256": file_sha256, "line": reject.line, "row": reject.row,
                        **({"truncated": True} if reject.truncated else {})}),
                 f"import:{fmt}", f"{file_name} line {reject.line}: {reject.reason}", run_id))
            quarantined_new += cursor.rowcount
        if inserted == 0 and quarantined_new == 0:
            earlier = conn.execute(
                """select import_id, imported_at from ops.imports
                   where tenant_id = %s and account_id = %s and file_sha256 = %s and format = %s and rows_in = %s
                     and lines_loaded = %s and quarantined = %s and ignored = %s and ignored_reasons = %s
                   order by import_id limit 1""",
                (tenant_id, account_id, file_sha256, fmt, tally.rows_in, tally.lines_loaded, tally.quarantined,
                 tally.ignored, Jsonb(tally.ignored_reasons))).fetchone()
            if earlier is not None:
                return StoredImport(0, earlier[0], earlier[1], repeated=True)
        row = conn.execute(
            """insert into ops.imports (tenant_id, account_id, file_name, file_sha256, format, rows_in, loaded_new,
                                       duplicates, quarantined, ignored, run_id, lines_loaded, ignored_reasons)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning import_id, imported_at""",
            (tenant_id, account_id, file_name, file_sha256, fmt, tally.rows_in, inserted, len(rows) - inserted,
             tally.quarantined, tally.ignored, run_id, tally.lines_loaded, Jsonb(tally.ignored_reasons))).fetchone()
    assert row is not None  # insert … returning
    return StoredImport(inserted, row[0], row[1], repeated=False)


# A file's records that the venue's API already delivered, by the rules the ledger's models drop them with
# (dbt_project/models/intermediate/exchanges/int_exchange_trades.sql and int_exchange_transfers.sql): a trade of
# the same pair, side and second whose quantity is one API fill's or the sum of that second's fills (a Binance
# statement sums them); a deposit or withdrawal with the API's id or hash, or the same amount (or, for a
# statement's withdrawal, the API's amount plus its fee) within the same minute; an income (reward) of the same
# asset and amount within the same minute (int_ledger.sql). Informational: the models decide.
_ALREADY_SYNCED = """
with f as (
    select * from raw.file_records
    where tenant_id = %(t)s and account_id = %(a)s and file_sha256 = %(sha)s
),
fills as (
    select base_asset, quote_asset, side, date_trunc('second', occurred_at) as second, quantity
    from raw.{venue}_trades where tenant_id = %(t)s and account_id = %(a)s
),
seconds as (
    select base_asset, quote_asset, side, second, sum(quantity) as quantity from fills
    group by base_asset, quote_asset, side, second
)
select count(*) from f
where (f.record_type = 'trade' and exists (
          select 1 from (select * from fills union all select * from seconds) as a
          where a.base_asset = f.base_asset and a.quote_asset = f.quote_asset and a.side = f.side
            and a.second = date_trunc('second', f.occurred_at) and a.quantity = f.quantity))
   or (f.record_type in ('deposit', 'withdrawal') and exists (
          select 1 from raw.{venue}_transfers as a
          where a.tenant_id = f.tenant_id and a.account_id = f.account_id and a.transfer_type = f.record_type
            and a.asset = f.asset
            and (a.transfer_id = f.venue_record_id or lower(a.txid) = lower(f.txid)
                 or (date_trunc('minute', a.occurred_at) = date_trunc('minute', f.occurred_at)
                     and (a.amount = f.amount or (f.source = 'csv:binance_statement'
                          and a.transfer_type = 'withdrawal' and a.fee_asset = a.asset
                          and a.amount + a.fee_amount = f.amount))))))
   -- a reward the API lists with its transfers (Coinbase v2 staking_reward, …): the rule of int_ledger
   or (f.record_type = 'income' and exists (
          select 1 from raw.{venue}_transfers as a
          where a.tenant_id = f.tenant_id and a.account_id = f.account_id and a.transfer_type = 'income'
            and a.status = 'ok' and a.asset = f.asset and a.amount = f.amount
            and date_trunc('minute', a.occurred_at) = date_trunc('minute', f.occurred_at)))
"""


def already_synced(wh: Warehouse, *, tenant_id: str, account_id: str, venue: str, file_sha256: str) -> int:
    """How many of the file's records (in this account) the venue's API already delivered."""
    if not venue.isidentifier():
        return 0
    with wh.connect() as conn:
        exists = conn.execute("select to_regclass(%s) is not null", (f"raw.{venue}_trades",)).fetchone()
        if not exists or not exists[0]:
            return 0  # a wallet or a venue without API tables: nothing to compare with
        row = conn.execute(_ALREADY_SYNCED.format(venue=venue),
                           {"t": tenant_id, "a": account_id, "sha": file_sha256}).fetchone()
    return int(row[0]) if row else 0
