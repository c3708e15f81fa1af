"""Bringing a machine to a runnable state: warehouse up and migrated, dbt manifest built, Dagster home
written, sandbox listening. Every step is idempotent; the CLI and the tests call the same functions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.settings import PROJECT_ROOT, CoinbookSettings

DAGSTER_DATABASE = "dagster"


def ensure_warehouse(settings: CoinbookSettings) -> str:
    """Start the private cluster (unless COINBOOK_DATABASE_URL points elsewhere) and migrate it."""
    from warehouse.migrate import apply_migrations

    if settings.database_url:
        url = settings.database_url
    else:
        from warehouse.cluster import LocalCluster

        cluster = LocalCluster(settings.home, settings.pg_port)
        url = cluster.up()
        cluster.create_database(DAGSTER_DATABASE)
    apply_migrations(url)
    from pipelines.venue_scaffold import all_venues, ensure_raw_tables

    ensure_raw_tables(url, all_venues(settings.venues))  # venues added through COINBOOK_VENUES
    return url


def dbt_env(database_url: str) -> dict[str, str]:
    """The COINBOOK_PG_* variables dbt's profiles.yml reads, from a libpq URL."""
    from warehouse.cluster import libpq_params

    return {f"COINBOOK_PG_{key.upper()}": value for key, value in libpq_params(database_url).items()}


def dbt_executable() -> str:
    """The dbt of this environment (a Dagster code server may not have the venv on PATH)."""
    for candidate in (Path(sys.prefix) / "bin" / "dbt", Path(sys.executable).with_name("dbt")):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def ensure_dbt_manifest(settings: CoinbookSettings, database_url: str, *, force: bool = False) -> Path:
    """dagster-dbt reads target/manifest.json when definitions load: build it with `dbt parse` when it is
    missing or older than any file of the dbt project."""
    from warehouse.cluster import file_lock

    # The lock sits beside what it guards: two processes sharing the project (but maybe not COINBOOK_HOME, as
    # the CLI test's `coinbook run` beside the other pytest worker) must not write target/ at once.
    with file_lock(settings.dbt_project_dir / "target" / ".parse.lock"):
        return _ensure_dbt_manifest(settings, database_url, force=force)


def _ensure_dbt_manifest(settings: CoinbookSettings, database_url: str, *, force: bool) -> Path:
    from pipelines.venue_scaffold import all_venues, dbt_vars, write_staging_models

    project = settings.dbt_project_dir
    venues = all_venues(settings.venues)
    write_staging_models(project, venues)
    manifest = project / "target" / "manifest.json"
    vars_file = project / "target" / "coinbook_vars.json"  # the vars the manifest was parsed with
    if not vars_file.exists() or vars_file.read_text() != dbt_vars(venues):
        force = True
    newest_source = max((p.stat().st_mtime for p in project.rglob("*")
                         if p.is_file() and "target" not in p.parts and "logs" not in p.parts), default=0.0)
    if force or not manifest.exists() or manifest.stat().st_mtime < newest_source:
        env = {**os.environ, **dbt_env(database_url), "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                        str(project), "--vars", dbt_vars(venues)], check=True, env=env, cwd=project)
        vars_file.write_text(dbt_vars(venues))
    return manifest


def dagster_home(settings: CoinbookSettings, database_url: str) -> Path:
    """A DAGSTER_HOME shared by `coinbook run` and `make dev`, so the UI shows what the run did.
    With the private cluster, run and event storage live in its `dagster` database."""
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    lines = ["telemetry:", "  enabled: false"]
    if not settings.database_url:
        # dagster-postgres uses psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which breaks
        # its event log queries, so the driver is named explicitly.
        dagster_url = database_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
        lines += ["storage:", "  postgres:", f"    postgres_url: {dagster_url}/{DAGSTER_DATABASE}"]
    config = home / "dagster.yaml"
    text = "\n".join(lines) + "\n"
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def sandbox_is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/__sandbox/accounts", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def project_root() -> Path:
    return PROJECT_ROOT
