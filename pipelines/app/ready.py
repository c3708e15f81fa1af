"""Bringing a machine to a runnable state, one step shared by `prepare`, `run` and `dev`: the warehouse up and
migrated (raw tables for extra venues included), the dbt manifest built, the Dagster home written and, when asked,
the sandbox listening. Every step is idempotent; the CLI and the tests call the same functions."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.services.dbt import build_dbt_manifest
from pipelines.services.venues import all_venues, ensure_raw_tables
from pipelines.settings import CoinbookSettings
from warehouse.cluster import LocalCluster
from warehouse.migrate import apply_migrations

DAGSTER_DATABASE = "dagster"


@dataclass(frozen=True)
class Ready:
    database_url: str
    dagster_home: Path
    sandbox_started: bool  # this process started the sandbox (and stops it when the `ready` block ends)


def ensure_warehouse(settings: CoinbookSettings) -> str:
    """Start the private cluster (unless COINBOOK_DATABASE_URL points elsewhere) and migrate it."""
    if settings.database_url:
        url = settings.database_url
    else:
        cluster = LocalCluster(settings.home, settings.pg_port, fast=settings.pg_fast)
        url = cluster.up()
        cluster.create_database(DAGSTER_DATABASE)
        cluster.hand_over(DAGSTER_DATABASE)  # Dagster's tables, made by an older Coinbook as the superuser
    migrate(settings)
    ensure_raw_tables(url, all_venues(settings.venues))  # venues added through COINBOOK_VENUES
    return url


def migrate(settings: CoinbookSettings) -> list[str]:
    """Pending migrations: on the private cluster as its superuser, every object then handed to the pipeline
    role; on COINBOOK_DATABASE_URL as its user."""
    if settings.database_url:
        return apply_migrations(settings.database_url)
    return LocalCluster(settings.home, settings.pg_port, fast=settings.pg_fast).migrate()


def ensure_dbt_manifest(settings: CoinbookSettings, database_url: str, *, force: bool = False) -> Path:
    return build_dbt_manifest(settings.dbt_project_dir, database_url, all_venues(settings.venues), force=force)


def dagster_yaml(storage_url: str | None) -> str:
    """An instance's dagster.yaml: telemetry off, and run and event storage in the PostgreSQL database
    `storage_url` (else Dagster's default, SQLite in DAGSTER_HOME)."""
    lines = ["telemetry:", "  enabled: false"]
    if storage_url:
        # dagster-postgres uses psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which breaks
        # its event log queries, so the driver is named explicitly.
        driver_url = storage_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        lines += ["storage:", "  postgres:", f"    postgres_url: {driver_url}"]
    return "\n".join(lines) + "\n"


def dagster_home(settings: CoinbookSettings, database_url: str) -> Path:
    """A DAGSTER_HOME shared by `coinbook run` and `make dev`, so the UI shows what the run did.
    With the private cluster, run and event storage live in its `dagster` database."""
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    storage = None if settings.database_url else f"{database_url.rsplit('/', 1)[0]}/{DAGSTER_DATABASE}"
    config = home / "dagster.yaml"
    text = dagster_yaml(storage)
    if not config.exists() or config.read_text() != text:
        # 0600: the storage URL holds the pipeline role's password
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    config.chmod(0o600)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def sandbox_is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/__sandbox/accounts", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def ready(settings: CoinbookSettings, *, sandbox: bool = False, malformed: bool = True) -> Iterator[Ready]:
    """Warehouse, manifest and Dagster home; with `sandbox`, the exchange sandbox on COINBOOK_SANDBOX_URL for as
    long as the block lasts (unless one is already listening there)."""
    url = ensure_warehouse(settings)
    ensure_dbt_manifest(settings, url)
    home = dagster_home(settings, url)
    server = None
    if sandbox and not sandbox_is_up(settings.sandbox_url):
        from sandbox.server import SandboxServer
        from sandbox.world import Scale

        target = urlsplit(settings.sandbox_url)
        server = SandboxServer(host=target.hostname or "127.0.0.1", port=target.port or 8765, malformed=malformed,
                               scale=Scale.parse(settings.sandbox_scale))
        server.__enter__()
    try:
        yield Ready(url, home, server is not None)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
