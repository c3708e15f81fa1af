"""The tick inbox: a price tick file (CSV or Parquet) dropped into it becomes one tick_load run, keyed by the file's
sha256 (a file dropped twice is loaded once); the file then moves to loaded/ or failed/."""

from pathlib import Path

import dagster as dg

from pipelines.defs.common import TIER_TAG
from pipelines.defs.prices.jobs import tick_load_job
from pipelines.services.imports import file_sha256
from pipelines.settings import CoinbookSettings

TICK_SUFFIXES = (".csv", ".txt", ".parquet", ".pq")

def waiting_tick_files(inbox: Path) -> list[Path]:
    """Files at the top of the inbox (loaded/ and failed/ hold the processed ones)."""
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in TICK_SUFFIXES
                  and not p.name.startswith("."))


def tick_inbox_sensor(settings: CoinbookSettings) -> dg.SensorDefinition:
    inbox = settings.tick_inbox_dir

    @dg.sensor(name="tick_inbox", job=tick_load_job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description=f"Loads price tick files dropped into the tick inbox ({inbox}).")
    def tick_inbox(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        # the run key is the file's content: a file dropped twice is loaded once
        return dg.SensorResult(run_requests=[
            dg.RunRequest(run_key=f"ticks:{file_sha256(path)}",
                          run_config={"ops": {"raw_price_ticks": {"config": {"path": str(path)}}}},
                          tags={TIER_TAG: "ticks"})
            for path in waiting_tick_files(inbox)])

    return tick_inbox
