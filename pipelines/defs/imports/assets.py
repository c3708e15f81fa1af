"""A CSV export imported as a run: raw.file_records (+ ops.quarantine, ops.imports), then the file is filed away
beside where it was dropped (services/imports.py does the work). A refused file (not a supported export, another
venue's export, mostly bad lines, no such account) moves to refused/ with its reason beside it, and the run fails
with that reason: it is out of the inbox, so it is never tried again."""

from pathlib import Path

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.services.imports import file_away, import_file, inbox_options, refuse_file
from pipelines.sources.files.dialect import ReadOptions


class ImportConfig(dg.Config):
    path: str
    tenant_id: str
    account_id: str
    # How the file is read; unset ones come from import.yaml in the file's folder (services.imports.inbox_options).
    format: str | None = None
    timezone: str | None = None
    delimiter: str | None = None
    decimal_comma: bool | None = None
    date_format: str | None = None


@dg.asset(name="raw_file_records", group_name="ingest", kinds={"python", "postgres"},
          description="Rows of exchange/wallet CSV exports (Binance, Coinbase, Kraken, Ledger Live, generic).")
def raw_file_records(context: dg.AssetExecutionContext, config: ImportConfig,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = Path(config.path)
    try:
        folder = inbox_options(path.parent)
        reading = ReadOptions(config.delimiter or folder.reading.delimiter,
                              folder.reading.decimal_comma if config.decimal_comma is None else config.decimal_comma,
                              config.date_format or folder.reading.date_format, folder.reading.encoding)
        outcome = import_file(warehouse.get(), path, config.account_id, tenant_id=config.tenant_id,
                              fmt=config.format or folder.format, timezone=config.timezone or folder.timezone,
                              run_id=context.run_id, reading=reading)
    except (ValueError, LookupError) as exc:  # the file's fault (FileRefused, UnknownFormat are ValueErrors)
        reason = f"{path.name}: {exc}"
        moved = refuse_file(path, reason)
        context.log.error(f"refused, moved to {moved}: {reason}")
        raise dg.Failure(description=reason, metadata={"refused": str(moved)}, allow_retries=False) from None
    file_away(path, "imported", outcome.file_sha256)
    return dg.MaterializeResult(metadata={
        "file": outcome.file_name, "format": outcome.format, "rows_in": outcome.rows_in,
        "inserted": outcome.loaded_new, "duplicates": outcome.duplicates, "quarantined": outcome.quarantined,
        "ignored": outcome.ignored, "lines_loaded": outcome.lines_loaded, "read_as": outcome.layout,
        "ignored_reasons": dg.MetadataValue.json(outcome.ignored_reasons), "repeated": outcome.repeated})
