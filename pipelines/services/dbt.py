"""dbt as Coinbook runs it: the connection it reads from the environment, the dbt executable, the vars, the one
manifest builder (dagster-dbt reads target/manifest.json when the definitions load), and the pruning of the
per-invocation target directories dagster-dbt leaves behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from pipelines.services.venues import dbt_vars, write_staging_models
from warehouse.cluster import file_lock, libpq_params

# dagster-dbt writes each invocation's artifacts to target/<op>-<run>-<uuid>/ (~4 MB); a nightly run makes three
# and a 5-minute fast tier 288 a day, so old ones are removed. Recent ones stay for debugging and for runs
# still going (a directory is only removed once it is a day old).
KEEP_DBT_TARGETS = 30
DBT_TARGET_MIN_AGE_S = 24 * 3600


def dbt_env(database_url: str) -> dict[str, str]:
    """The COINBOOK_PG_* variables dbt's profiles.yml reads, from a libpq URL."""
    return {f"COINBOOK_PG_{key.upper()}": value for key, value in libpq_params(database_url).items()}


def dbt_executable() -> str:
    """The dbt of this environment (a Dagster code server may not have the venv on PATH)."""
    for candidate in (Path(sys.prefix) / "bin" / "dbt", Path(sys.executable).with_name("dbt")):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def build_dbt_manifest(project: Path, database_url: str, venues: Iterable[str], *, force: bool = False) -> Path:
    """target/manifest.json of the project, parsed again when it is missing, older than any file of the project,
    or parsed with other vars (`venues`); generated staging models of extra venues are written first. Under a
    lock beside what it guards: two processes sharing the project (but maybe not COINBOOK_HOME, as the CLI
    test's `coinbook run` beside the other pytest worker) must not write target/ at once."""
    venues = tuple(venues)
    with file_lock(project / "target" / ".parse.lock"):
        write_staging_models(project, venues)
        manifest = project / "target" / "manifest.json"
        vars_file = project / "target" / "coinbook_vars.json"  # the vars the manifest was parsed with
        if not vars_file.exists() or vars_file.read_text() != dbt_vars(venues):
            force = True
        newest_source = max((p.stat().st_mtime for p in project.rglob("*")
                             if p.is_file() and "target" not in p.parts and "logs" not in p.parts), default=0.0)
        if force or not manifest.exists() or manifest.stat().st_mtime < newest_source:
            env = {**os.environ, **dbt_env(database_url), "DO_NOT_TRACK": "1",
                   "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
            subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                            str(project), "--vars", dbt_vars(venues)], check=True, env=env, cwd=project)
            vars_file.write_text(dbt_vars(venues))
        return manifest


def prune_dbt_targets(target: Path, *, prefix: str, keep: int = KEEP_DBT_TARGETS,
                      min_age_s: float = DBT_TARGET_MIN_AGE_S, now: float | None = None) -> list[Path]:
    """Remove the per-invocation artifact directories beyond the `keep` newest that are older than `min_age_s`."""
    now = time.time() if now is None else now
    runs = sorted((p for p in target.glob(f"{prefix}*") if p.is_dir()), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    removed = [p for p in runs[keep:] if now - p.stat().st_mtime > min_age_s]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
