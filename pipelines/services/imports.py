"""Importing exchange/wallet CSV exports into raw.file_records (the thin, I/O part; parsing is
pipelines/sources/files). Used by `coinbook import` and by the inbox sensor's `file_import` job.

Every data line ends up in exactly one place: a record (raw.file_records), a quarantine row (ops.quarantine,
with the file, line number and reason) or the ignored count (documented no-op lines), and ops.imports keeps
the tally — rows in = rows loaded + rows quarantined + rows ignored. A record's identity is its content (plus
its ordinal among identical rows of the file), so importing the same file twice, or a file overlapping an
earlier one, adds nothing; staging then drops file records that the venue's API already delivered.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from pipelines.services.accounts import resolve_account
from pipelines.sources.exchanges.canonical import canonical_json, clean_json
from pipelines.sources.files import ImportedRecord, detect_format, parse_export
from warehouse.connection import Warehouse
from warehouse.files import ImportTally, RejectedLine, store_file_import

IDENTITY_FIELDS = ("record_type", "occurred_at", "base_asset", "quote_asset", "side", "quantity", "price", "cost",
                   "asset", "amount", "fee_amount", "fee_asset", "venue_record_id", "txid", "income_kind")


@dataclass(frozen=True)
class ImportOutcome:
    file_name: str
    file_sha256: str
    format: str
    tenant_id: str
    account_id: str
    rows_in: int
    records: int
    loaded_new: int
    duplicates: int
    quarantined: int
    ignored: int

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.lines_loaded + self.quarantined + self.ignored

    lines_loaded: int = 0


def _identity(record: ImportedRecord) -> dict[str, Any]:
    # Decimals normalised (1.50 == 1.5), times in ISO UTC: the same row in another export is the same record.
    out: dict[str, Any] = {}
    for name in IDENTITY_FIELDS:
        value = getattr(record, name)
        if hasattr(value, "normalize"):
            value = format(value.normalize(), "f")
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[name] = value
    return out


def record_rows(records: list[ImportedRecord], *, tenant_id: str, account_id: str, fmt: str, file_name: str,
                file_sha256: str, run_id: str | None) -> list[tuple[Any, ...]]:
    seen: Counter[str] = Counter()
    rows = []
    for r in records:
        identity = canonical_json(_identity(r))
        seen[identity] += 1  # two identical fills in one file stay two records
        source_record_id = hashlib.sha256(f"{identity}#{seen[identity]}".encode()).hexdigest()
        rows.append((tenant_id, account_id, f"csv:{fmt}", source_record_id, r.record_type, r.occurred_at,
                     r.base_asset, r.quote_asset, r.side, r.quantity, r.price, r.cost, r.asset, r.amount,
                     r.fee_amount, r.fee_asset, r.venue_record_id, r.txid, r.income_kind, file_name, file_sha256,
                     Jsonb(list(r.lines)), clean_json(r.payload),
                     hashlib.sha256(canonical_json(r.payload).encode()).hexdigest(), run_id))
    return rows


def import_file(wh: Warehouse, path: Path, account_id: str, *, tenant_id: str | None = None, fmt: str | None = None,
                timezone: str | None = None, run_id: str | None = None) -> ImportOutcome:
    tenant_id, account_id = resolve_account(wh, account_id, tenant_id)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8-sig", errors="replace")  # undecodable bytes become U+FFFD: that row is rejected
    fmt = fmt or detect_format(text)
    result = parse_export(text, fmt, default_timezone=timezone)
    rows = record_rows(result.records, tenant_id=tenant_id, account_id=account_id, fmt=fmt, file_name=path.name,
                       file_sha256=sha, run_id=run_id)
    lines_loaded = sum(len(r.lines) for r in result.records)
    inserted = store_file_import(
        wh, tenant_id=tenant_id, account_id=account_id, source=f"csv:{fmt}", fmt=fmt, file_name=path.name,
        file_sha256=sha, rows=rows, rejected=[RejectedLine(r.line, r.reason, clean_json(r.payload))
                                              for r in result.rejected],
        tally=ImportTally(result.data_lines, len(result.rejected), len(result.ignored)), run_id=run_id)
    outcome = ImportOutcome(path.name, sha, fmt, tenant_id, account_id, result.data_lines, len(rows), inserted,
                            len(rows) - inserted, len(result.rejected), len(result.ignored), lines_loaded)
    if not outcome.balanced:  # a parser bug, not bad input: say so loudly
        raise RuntimeError(f"{path.name}: {outcome.rows_in} rows in but {outcome.lines_loaded} loaded + "
                           f"{outcome.quarantined} quarantined + {outcome.ignored} ignored")
    return outcome


def file_sha256(path: Path) -> str:
    """The file's content hash, read in blocks (an inbox file may be a day of ticks): its identity in run keys
    and in the name it is filed away under."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_away(path: Path, folder: str, sha256: str) -> Path:
    """Move a processed inbox file into `folder` beside it, named <sha256[:12]>-<name> (two files of one name
    never clash); a file already there stays where it is. Returns where it is now."""
    if path.parent.name == folder:
        return path
    target = path.parent / folder
    target.mkdir(exist_ok=True)
    moved = target / f"{sha256[:12]}-{path.name}"
    shutil.move(str(path), moved)
    return moved


def inbox_files(inbox: Path) -> list[tuple[Path, str, str]]:
    """CSV files waiting in <inbox>/<tenant>/<account>/ (processed ones move to <account>/imported/)."""
    found = []
    if not inbox.exists():
        return found
    for path in sorted(inbox.glob("*/*/*")):
        if path.is_file() and path.suffix.lower() in (".csv", ".txt") and not path.name.startswith("."):
            found.append((path, path.parent.parent.name, path.parent.name))
    return found


def quarantined_lines(wh: Warehouse, file_sha256: str, limit: int = 20) -> list[str]:
    """The reasons a file's lines were quarantined, in line order (the first `limit`)."""
    with wh.connect() as conn:
        return [reason for (reason,) in conn.execute(
            "select reason from ops.quarantine where raw_table = 'raw.file_records' "
            "and payload->>'file_sha256' = %s order by (payload->>'line')::int limit %s", (file_sha256, limit))]
