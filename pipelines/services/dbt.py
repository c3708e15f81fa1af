"""dbt as Coinbook runs it: the connection it reads from the environment, the dbt executable, the vars, the one
manifest builder (dagster-dbt reads target/manifest.json when the definitions load), and the pruning of the
per-invocation target directories dagster-dbt leaves behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from pipelines.services.venues import dbt_vars, write_staging_models
from warehouse.cluster import file_lock, libpq_params

# dagster-dbt writes each invocation's artifacts to <DBT_TARGET_PATH>/<op>-<run>-<uuid>/ (~4 MB; under the
# database's parse, see parsed_dir); a nightly run makes three and a 5-minute fast tier 288 a day, so old ones are
# removed. Recent ones stay for debugging and for runs
# still going (a directory is only removed once it is a day old).
KEEP_DBT_TARGETS = 30
DBT_TARGET_MIN_AGE_S = 24 * 3600
KEEP_PARSED = 10  # databases whose parse is kept (each a test database, or the warehouse)


def dbt_env(database_url: str) -> dict[str, str]:
    """The COINBOOK_PG_* variables dbt's profiles.yml reads, from a libpq URL."""
    return {f"COINBOOK_PG_{key.upper()}": value for key, value in libpq_params(database_url).items()}


def dbt_executable() -> str:
    """The dbt of this environment (a Dagster code server may not have the venv on PATH)."""
    for candidate in (Path(sys.prefix) / "bin" / "dbt", Path(sys.executable).with_name("dbt")):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


PROJECT_FILES = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


def parsed_dir(project: Path, database_url: str) -> Path:
    """Where dbt's parse of the project for one database is kept (its manifest and partial-parse state).

    dbt re-parses the whole project (~8 s) whenever the connection differs from the one its partial-parse state
    was made with (it hashes host, port, database); dagster-dbt copies that state into every invocation's
    target. One parse per database, reused by every dbt step run on it, instead of a full parse per step
    whenever two databases take turns (the test suite's, or a warehouse moved elsewhere)."""
    params = libpq_params(database_url)
    key = hashlib.sha256(json.dumps({k: params.get(k) for k in ("host", "port", "dbname", "user")},
                                    sort_keys=True).encode()).hexdigest()[:12]
    return project / "target" / "parsed" / key


def _newest_source(project: Path) -> float:
    paths = (project / name for name in PROJECT_FILES)
    return max((f.stat().st_mtime for p in paths if p.exists() for f in ([p] if p.is_file() else p.rglob("*"))
                if f.is_file()), default=0.0)


def ensure_parsed(project: Path, database_url: str, venues: Iterable[str], *, force: bool = False) -> Path:
    """The project parsed for `database_url` with `venues` (parsed again when a project file is newer, the vars
    differ or `force`); returns the directory holding manifest.json and partial_parse.msgpack. Generated staging
    models of extra venues are written first. Under a lock beside what it guards: two processes sharing the
    project (but maybe not COINBOOK_HOME, as the CLI test's `coinbook run` beside the other pytest worker) must
    not write target/ at once."""
    venues = tuple(venues)
    out = parsed_dir(project, database_url)
    with file_lock(project / "target" / ".parse.lock"):
        write_staging_models(project, venues)
        state, vars_file = out / "partial_parse.msgpack", out / "coinbook_vars.json"  # the vars it was parsed with
        stale = (force or not state.exists() or not vars_file.exists() or vars_file.read_text() != dbt_vars(venues)
                 or state.stat().st_mtime < _newest_source(project))
        if stale:
            env = {**os.environ, **dbt_env(database_url), "DO_NOT_TRACK": "1",
                   "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
            env.pop("DBT_TARGET_PATH", None)
            subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                            str(project), "--target-path", str(out), "--vars", dbt_vars(venues)], check=True,
                           env=env, cwd=project)
            vars_file.write_text(dbt_vars(venues))
        os.utime(out)  # in use: pruning leaves it alone
        prune_dbt_targets(out.parent, prefix="", keep=KEEP_PARSED)
    return out


def build_dbt_manifest(project: Path, database_url: str, venues: Iterable[str], *, force: bool = False) -> Path:
    """target/manifest.json, the one Dagster loads its dbt assets from: the project parsed for `database_url`
    (ensure_parsed), copied when the one in place is missing or older than the parse."""
    parsed = ensure_parsed(project, database_url, venues, force=force) / "manifest.json"
    manifest = project / "target" / "manifest.json"
    with file_lock(project / "target" / ".parse.lock"):
        if force or not manifest.exists() or manifest.stat().st_mtime < parsed.stat().st_mtime:
            tmp = manifest.with_name(f".manifest.{os.getpid()}.json")
            shutil.copyfile(parsed, tmp)
            os.replace(tmp, manifest)  # whole: a process loading definitions never reads half a file
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
