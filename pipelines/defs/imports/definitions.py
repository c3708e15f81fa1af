"""Imports: CSV exports dropped into the import inbox — a sensor notices them, a run imports each one.

    <inbox>/<tenant>/<account>/<file>.csv   →  raw.file_records (+ ops.quarantine, ops.imports)
                                            →  the file moves to <inbox>/<tenant>/<account>/imported/
                                               (a refused file to .../refused/, its reason in <file>.reason.txt)
The inbox is COINBOOK_IMPORT_INBOX (default .coinbook/inbox). The run key is the file's sha256, so a file dropped
twice is imported once (and importing it again by hand changes nothing either). services/imports.py does it.
"""

import dagster as dg

from pipelines.defs.imports.assets import raw_file_records
from pipelines.defs.imports.jobs import file_import_job
from pipelines.defs.imports.sensors import import_inbox_sensor
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[raw_file_records], jobs=[file_import_job], sensors=[import_inbox_sensor(settings)])
