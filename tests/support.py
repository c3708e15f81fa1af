"""Helpers shared by the integration tests (not fixtures: plain functions)."""

from __future__ import annotations

from typing import Any

import dagster as dg
from psycopg.conninfo import conninfo_to_dict

from pipelines.definitions import build_definitions
from pipelines.settings import CoinbookSettings, get_settings
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse


def settings_for(database_url: str, sandbox_url: str | None = None, **overrides: Any) -> CoinbookSettings:
    """The settings of this test session pointed at a test database (and a sandbox)."""
    update: dict[str, Any] = {"database_url": database_url, **overrides}
    if sandbox_url is not None:
        update["sandbox_url"] = sandbox_url
    return get_settings().model_copy(update=update)


def admin_warehouse(database_url: str) -> Warehouse:
    """The private cluster's superuser on the same database as `database_url` (the pipeline's): logins are
    administration (`coinbook users`), not the pipeline's business."""
    settings = get_settings()
    dbname = conninfo_to_dict(database_url)["dbname"]
    return Warehouse(LocalCluster(settings.home, settings.pg_port).admin_url(str(dbname)))


def definitions_for(database_url: str, sandbox_url: str | None = None, resources: dict[str, Any] | None = None,
                    **overrides: Any) -> dg.Definitions:
    """The code location wired to a test database and sandbox (`resources` replaces some)."""
    return build_definitions(settings_for(database_url, sandbox_url, **overrides), resources)
