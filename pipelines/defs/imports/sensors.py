"""The import inbox: a CSV dropped into <inbox>/<tenant>/<account>/ becomes one file_import run, keyed by the
file's sha256 (a file dropped twice is imported once) and by the folder's import.yaml (a file refused for want of an
option is tried again when the option is added and the file dropped again)."""

from pathlib import Path

import dagster as dg

from pipelines.defs.common import TIER_TAG
from pipelines.defs.imports.jobs import file_import_job
from pipelines.services.imports import file_sha256, inbox_files, inbox_options_sha256
from pipelines.settings import CoinbookSettings


def import_inbox_sensor(settings: CoinbookSettings) -> dg.SensorDefinition:
    inbox = settings.import_inbox_dir

    @dg.sensor(name="import_inbox", job=file_import_job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description=f"Imports CSV files dropped into <inbox>/<tenant>/<account>/ (inbox: {inbox}).")
    def import_inbox(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return dg.SensorResult(run_requests=[
            dg.RunRequest(run_key=_run_key(path, tenant, account),
                          run_config={"ops": {"raw_file_records": {"config": {
                              "path": str(path), "tenant_id": tenant, "account_id": account}}}},
                          tags={TIER_TAG: "import"})
            for path, tenant, account in inbox_files(inbox)])

    return import_inbox


def _run_key(path: Path, tenant: str, account: str) -> str:
    options = inbox_options_sha256(path.parent)
    return f"import:{tenant}:{account}:{file_sha256(path)}" + (f":options:{options[:16]}" if options else "")
