"""A CSV export imported as a run: raw.file_records (+ ops.quarantine, ops.imports), then the file is filed away
beside where it was dropped (services/imports.py does the work)."""

from pathlib import Path

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.services.imports import file_away, import_file


class ImportConfig(dg.Config):
    path: str
    tenant_id: str
    account_id: str
    format: str | None = None
    timezone: str | None = None


@dg.asset(name="raw_file_records", group_name="ingest", kinds={"python", "postgres"},
          description="Rows of exchange/wallet CSV exports (Binance, Coinbase, Kraken, Ledger Live, generic).")
def raw_file_records(context: dg.AssetExecutionContext, config: ImportConfig,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = Path(config.path)
    outcome = import_file(warehouse.get(), path, config.account_id, tenant_id=config.tenant_id, fmt=config.format,
                          timezone=config.timezone, run_id=context.run_id)
    file_away(path, "imported", outcome.file_sha256)
    return dg.MaterializeResult(metadata={
        "file": outcome.file_name, "format": outcome.format, "rows_in": outcome.rows_in,
        "inserted": outcome.loaded_new, "duplicates": outcome.duplicates, "quarantined": outcome.quarantined,
        "ignored": outcome.ignored})
