"""Importing exchange/wallet CSV exports into raw.file_records (the thin, I/O part; parsing is
pipelines/sources/files). Used by `coinbook import` and by the inbox sensor's `file_import` job.

Every data line ends up in exactly one place: a record (raw.file_records), a quarantine row (ops.quarantine,
with the file, line number and reason) or the ignored count (documented no-op lines, their reasons grouped), and
ops.imports keeps the tally — rows in = lines loaded + rows quarantined + rows ignored. A record's identity is its
content (plus its ordinal among identical rows of the file), so importing the same file twice, or a file
overlapping an earlier one, adds nothing (and an import that changed nothing is not recorded again); staging then
drops file records that the venue's API already delivered.

A file is refused whole (FileRefused, nothing written) when it is another venue's export than the account's, when
its notation is ambiguous or mixed (sources/files/dialect.py; ReadOptions settle it), or when its lines mostly fail:
that is judged on the file's head (HEAD_BYTES) before the rest is read, and again on the whole file. A refused inbox
file moves to refused/ with its reason beside it (refuse_file). The inbox takes the options of a file named
INBOX_OPTIONS in the account's folder (inbox_options).
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from psycopg.types.json import Jsonb

from pipelines.services.accounts import resolve_account
from pipelines.sources.exchanges.canonical import canonical_json, clean_json
from pipelines.sources.files import (
    FileRefused,
    ImportedRecord,
    ParseResult,
    UnknownFormat,
    check_owner,
    detect_format,
    parse_export,
)
from pipelines.sources.files.dialect import ReadOptions, decode, whole_lines
from warehouse.connection import Warehouse
from warehouse.files import ImportTally, RejectedLine, already_synced, store_file_import

HEAD_BYTES = 1 << 20  # read first: the format, the account and the sample are judged on it before the rest is read
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
    ignored_reasons: dict[str, int] = field(default_factory=dict)  # why lines were ignored → how many, most first
    import_id: int | None = None  # the ops.imports row (the earlier one when this import changed nothing)
    imported_at: datetime | None = None
    repeated: bool = False  # the same file was already imported into this account: nothing was written
    layout: str = ""  # how the file was read: delimiter, decimal mark, date order, encoding
    already_synced: int = 0  # records the venue's API already delivered (the models drop them, not counted twice)


def ignored_reasons(ignored: list[tuple[int, str]]) -> dict[str, int]:
    """The reasons of a file's ignored lines, grouped: reason → lines, the most frequent first."""
    return dict(Counter(reason for _, reason in ignored).most_common())


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


def _account(wh: Warehouse, account_id: str, tenant_id: str | None) -> tuple[str, str, str, str]:
    """(tenant, account, kind, venue) of the account a file is imported into."""
    tenant_id, account_id = resolve_account(wh, account_id, tenant_id)
    with wh.connect() as conn:
        row = conn.execute("select kind, venue from ops.accounts where tenant_id = %s and account_id = %s",
                           (tenant_id, account_id)).fetchone()
    assert row is not None  # resolve_account found it
    return tenant_id, account_id, row[0], row[1]


def _head(path: Path) -> tuple[bytes, bool]:
    """The file's first HEAD_BYTES cut after its last whole line, and whether that is the whole file."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES + 1)
    if len(head) <= HEAD_BYTES:
        return head, True
    return whole_lines(head, HEAD_BYTES), False


def _parse(data: bytes, fmt: str, timezone: str | None, reading: ReadOptions, file_name: str) -> ParseResult:
    result = parse_export(data, fmt, default_timezone=timezone, reading=reading, file_name=file_name)
    if result.refused:
        raise FileRefused(result.refused)
    return result


def _format_of(data: bytes, fmt: str | None, reading: ReadOptions) -> str:
    try:
        return fmt or detect_format(data, reading)
    except UnknownFormat as exc:
        if "\x00" in decode(data, reading.encoding):
            # what a user can act on: it is not a text file (UTF-16 with or without its BOM is read)
            raise UnknownFormat(f"{exc}. The file holds NUL bytes: it is binary, not CSV text") from None
        raise


def import_file(wh: Warehouse, path: Path, account_id: str, *, tenant_id: str | None = None, fmt: str | None = None,
                timezone: str | None = None, run_id: str | None = None,
                reading: ReadOptions | None = None) -> ImportOutcome:
    """Raises UnknownFormat (not a supported export), FileRefused (another venue's export, an ambiguous or mixed
    notation, or mostly bad lines; nothing written), LookupError (no such account) or ValueError (an unknown
    --timezone). `reading`: the file's delimiter, decimal mark and date format, where sniffing refuses to guess."""
    reading = reading or ReadOptions()
    tenant_id, account_id, kind, venue = _account(wh, account_id, tenant_id)
    head, whole = _head(path)
    fmt = _format_of(head, fmt, reading)
    check_owner(fmt, account_id, kind, venue)
    result = _parse(head, fmt, timezone, reading, path.name)  # a file of junk is refused here, its head read only
    data = head if whole else path.read_bytes()
    if not whole:
        result = _parse(data, fmt, timezone, reading, path.name)
    sha = hashlib.sha256(data).hexdigest()
    rows = record_rows(result.records, tenant_id=tenant_id, account_id=account_id, fmt=fmt, file_name=path.name,
                       file_sha256=sha, run_id=run_id)
    lines_loaded = sum(len(r.lines) for r in result.records)
    reasons = ignored_reasons(result.ignored)
    stored = store_file_import(
        wh, tenant_id=tenant_id, account_id=account_id, source=f"csv:{fmt}", fmt=fmt, file_name=path.name,
        file_sha256=sha, rows=rows, rejected=[RejectedLine(r.line, r.reason, clean_json(r.payload), r.truncated)
                                              for r in result.rejected],
        tally=ImportTally(result.data_lines, len(result.rejected), len(result.ignored), lines_loaded, reasons),
        run_id=run_id)
    outcome = ImportOutcome(path.name, sha, fmt, tenant_id, account_id, result.data_lines, len(rows), stored.inserted,
                            len(rows) - stored.inserted, len(result.rejected), len(result.ignored), lines_loaded,
                            reasons, stored.import_id, stored.imported_at, stored.repeated, result.layout or "",
                            already_synced(wh, tenant_id=tenant_id, account_id=account_id, venue=venue or "",
                                           file_sha256=sha) if kind == "exchange" else 0)
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
    """CSV files waiting in <inbox>/<tenant>/<account>/ (processed ones move to <account>/imported/, refused ones
    to <account>/refused/)."""
    found = []
    if not inbox.exists():
        return found
    for path in sorted(inbox.glob("*/*/*")):
        if path.is_file() and path.suffix.lower() in (".csv", ".txt") and not path.name.startswith("."):
            found.append((path, path.parent.parent.name, path.parent.name))
    return found


INBOX_OPTIONS = "import.yaml"  # in <inbox>/<tenant>/<account>/: how that account's files are read
_OPTION_KEYS = ("delimiter", "decimal_comma", "date_format", "timezone", "format", "encoding")


@dataclass(frozen=True)
class InboxOptions:
    reading: ReadOptions
    timezone: str | None = None
    format: str | None = None


def inbox_options(folder: Path) -> InboxOptions:
    """The options in <folder>/import.yaml (none when there is no such file), e.g.
        delimiter: ";"          # , ; tab |
        decimal_comma: true     # false: decimal point
        date_format: DMY        # MDY, YMD, or a pattern such as "%d.%m.%Y %H:%M:%S"
        timezone: Europe/Berlin # naive timestamps of the generic template
        format: kraken_ledgers  # instead of detecting it
        encoding: cp1252        # only when the file is neither UTF-8/UTF-16 nor Windows-1252
    Raises ValueError saying what is wrong (the file is then refused with that reason)."""
    path = folder / INBOX_OPTIONS
    if not path.is_file():
        return InboxOptions(ReadOptions())
    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(found, dict):
        raise ValueError(f"{path}: expected keys {', '.join(_OPTION_KEYS)}")
    unknown = sorted(str(k) for k in found if k not in _OPTION_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key {', '.join(unknown)} (known: {', '.join(_OPTION_KEYS)})")
    decimal_comma = found.get("decimal_comma")
    if decimal_comma is not None and not isinstance(decimal_comma, bool):
        raise ValueError(f"{path}: decimal_comma must be true or false, not {decimal_comma!r}")
    text = {key: None if found.get(key) is None else str(found[key])
            for key in ("delimiter", "date_format", "timezone", "format", "encoding")}
    try:
        reading = ReadOptions(text["delimiter"], decimal_comma, text["date_format"], text["encoding"])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return InboxOptions(reading, text["timezone"], text["format"])


def inbox_options_sha256(folder: Path) -> str | None:
    """The options file's content hash (None without one): part of an inbox file's run key, so a file refused for
    want of an option is imported when the option is added and the file dropped again."""
    path = folder / INBOX_OPTIONS
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def refuse_file(path: Path, reason: str) -> Path:
    """Move a refused inbox file into refused/ beside it, with its reason in <file>.reason.txt: it is out of the
    inbox (never tried again) and the operator sees why. Returns where the file is now."""
    moved = file_away(path, "refused", file_sha256(path))
    moved.with_name(f"{moved.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return moved


def quarantined_lines(wh: Warehouse, file_sha256: str, limit: int = 20) -> list[str]:
    """The reasons a file's lines were quarantined, in line order (the first `limit`)."""
    with wh.connect() as conn:
        return [reason for (reason,) in conn.execute(
            "select reason from ops.quarantine where raw_table = 'raw.file_records' "
            "and payload->>'file_sha256' = %s order by (payload->>'line')::int limit %s", (file_sha256, limit))]
