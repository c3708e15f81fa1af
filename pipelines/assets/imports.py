"""CSV exports dropped into the import inbox: a sensor notices them, a run imports each one.

    <inbox>/<tenant>/<account>/<file>.csv   →  raw.file_records (+ ops.quarantine, ops.imports)
                                            →  the file moves to <inbox>/<tenant>/<account>/imported/
The inbox is COINBOOK_IMPORT_INBOX (default .coinbook/inbox). The run_key is the file's sha256, so a file
dropped twice is imported once (and importing it again by hand changes nothing either).
"""

import hashlib
from pathlib import Path

import dagster as dg

from pipelines.imports import file_away, import_file, inbox_files
from pipelines.jobs import TIER_TAG
from pipelines.resources.warehouse import WarehouseResource
from pipelines.settings import get_settings


class ImportConfig(dg.Config):
    path: str
    tenant_id: str
    account_id: str
    format: str | None = None
    timezone: str | None = None


def inbox_dir() -> Path:
    settings = get_settings()
    return settings.import_inbox or settings.home / "inbox"


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


file_import_job = dg.define_asset_job(
    "file_import", selection=dg.AssetSelection.assets(raw_file_records).without_checks(),
    description="Import one CSV export (launched by the import_inbox sensor, one run per file).")


@dg.sensor(name="import_inbox", job=file_import_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Imports CSV files dropped into <inbox>/<tenant>/<account>/ (COINBOOK_IMPORT_INBOX).")
def import_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    requests = []
    for path, tenant, account in inbox_files(inbox_dir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        requests.append(dg.RunRequest(
            run_key=f"import:{tenant}:{account}:{digest}",
            run_config={"ops": {"raw_file_records": {"config": {
                "path": str(path), "tenant_id": tenant, "account_id": account}}}},
            tags={TIER_TAG: "import"}))
    return dg.SensorResult(run_requests=requests)
