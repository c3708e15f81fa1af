"""The import job: one CSV export per run (launched by the import_inbox sensor)."""

import dagster as dg

from pipelines.defs.imports.assets import raw_file_records

file_import_job = dg.define_asset_job(
    "file_import", selection=dg.AssetSelection.assets(raw_file_records).without_checks(),
    description="Import one CSV export (launched by the import_inbox sensor, one run per file).")
