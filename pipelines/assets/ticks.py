"""Price tick files dropped into the tick inbox: a sensor notices them, a run loads each one.

    <tick inbox>/<file>.csv | .parquet  →  raw.price_ticks (+ ops.quarantine)
                                        →  the file moves to <tick inbox>/loaded/ (or failed/, with the reason)
The inbox is COINBOOK_TICK_INBOX (default .coinbook/tick-inbox), apart from the CSV import inbox, whose
<tenant>/<account>/ folders it must not look like. The run key is the file's sha256: a file dropped twice
is loaded once (and loading it again changes nothing either: see warehouse/ticks.py). The same loader as
`coinbook prices load-ticks`.
"""

import hashlib
from pathlib import Path

import dagster as dg

from pipelines.imports import file_away
from pipelines.jobs import TIER_TAG
from pipelines.resources.warehouse import WarehouseResource
from pipelines.settings import get_settings

TICK_SUFFIXES = (".csv", ".txt", ".parquet", ".pq")


class TickFileConfig(dg.Config):
    path: str
    source: str | None = None  # the venue of rows without a venue column


def tick_inbox_dir() -> Path:
    settings = get_settings()
    return settings.tick_inbox or settings.home / "tick-inbox"


def waiting_tick_files(inbox: Path) -> list[Path]:
    """Files at the top of the inbox (loaded/ and failed/ hold the processed ones)."""
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in TICK_SUFFIXES
                  and not p.name.startswith("."))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dg.asset(name="raw_price_ticks", group_name="ingest", kinds={"python", "postgres"},
          description="Price ticks from files (CSV or Parquet: venue, symbol, observed_at, price, size, tick_id), "
                      "a partition per day and venue, exactly once; bad ticks quarantined with the reason.")
def raw_price_ticks(context: dg.AssetExecutionContext, config: TickFileConfig,
                    warehouse: WarehouseResource) -> dg.MaterializeResult:
    from warehouse.ticks import load_ticks, read_tick_file  # pyarrow and numpy: only when a file comes

    path = Path(config.path)
    digest = _file_sha256(path)
    try:
        result = load_ticks(warehouse.database_url, read_tick_file(path), default_source=config.source,
                            run_id=context.run_id)
    except ValueError as exc:  # the file itself is unusable (no header, a required column missing)
        moved = file_away(path, "failed", digest)
        moved.with_name(moved.name + ".reason.txt").write_text(f"{exc}\n")
        raise dg.Failure(description=f"{path.name}: {exc}") from None
    file_away(path, "loaded", digest)
    return dg.MaterializeResult(metadata={
        "file": path.name, "sha256": digest, "rows_in": result.rows_in, "inserted": result.inserted,
        "duplicates": result.duplicates, "quarantined": result.quarantined,
        "venue_days": len(result.groups), "seconds": round(result.seconds.get("load", 0.0), 2)})


tick_load_job = dg.define_asset_job(
    "tick_load", selection=dg.AssetSelection.assets(raw_price_ticks),
    description="Load one file of price ticks (launched by the tick_inbox sensor, one run per file).")


@dg.sensor(name="tick_inbox", job=tick_load_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Loads price tick files dropped into the tick inbox (COINBOOK_TICK_INBOX).")
def tick_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    requests = [dg.RunRequest(run_key=f"ticks:{_file_sha256(path)}",
                              run_config={"ops": {"raw_price_ticks": {"config": {"path": str(path)}}}},
                              tags={TIER_TAG: "ticks"})
                for path in waiting_tick_files(tick_inbox_dir())]
    return dg.SensorResult(run_requests=requests)
