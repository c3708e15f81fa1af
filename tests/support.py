"""Helpers shared by the integration tests (not fixtures: plain functions)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
from psycopg import sql
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


# -- synced worlds: own database + sandbox world + accounts + one pipeline run, shared through a template -------

WORLDS_DIR = "test-worlds"  # under COINBOOK_HOME: one lock and one marker per world and test session
SESSION_ENV = "COINBOOK_TEST_SESSION"  # set by conftest in the controller, inherited by xdist's workers


@dataclass(frozen=True)
class WorldSpec:
    """A synced world. Modules asking for the same `name` in one test session share ONE pipeline run: the first
    builds it into a template database, every module (that one too) gets a copy of its own (CREATE DATABASE …
    TEMPLATE, a fraction of a second), so one module's writes never reach another's.

    `plant(world, now_ms)` adds activity to the sandbox world before the run and returns what it planted; it is
    replayed on each module's own sandbox, so it must be deterministic given `now_ms` (the builder's clock,
    kept in the marker). `accounts` / `venues`: the sandbox accounts registered (both empty: every account).
    `prepare(warehouse, planted, tmp)`: what the run must find in the database besides the accounts (a statement
    imported, say), after the plant and before the run; what it writes is in the template, so in every copy."""

    name: str
    accounts: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()
    plant: Callable[[Any, int], Any] | None = None
    malformed: bool = False
    transform: bool | str = True  # run_pipeline's: True = the tier's transform, or a transform job's name
    private_home: bool = False  # the exchange clients' cache in the module's tmp dir, not COINBOOK_HOME
    prepare: Callable[[Warehouse, Any, Path], None] | None = None


@dataclass
class Synced:
    """A module's copy of a synced world. `outcome` / `instance`: the run's, when this process built the world
    (None for a copy of a world another module built: the run was not theirs)."""

    url: str
    sandbox: Any  # sandbox.server.SandboxServer, serving the same world (the plant replayed)
    planted: Any
    outcome: Any = None  # pipelines.app.runner.PipelineOutcome
    instance: dg.DagsterInstance | None = None


def session_id() -> str:
    return os.environ.get(SESSION_ENV) or f"p{os.getpid()}"  # a plain `pytest` without the conftest hook


def world_template(spec: WorldSpec) -> str:
    return f"coinbook_world_{session_id()}_{spec.name}"[:63]


def copy_database(cluster: LocalCluster, template: str, name: str) -> None:
    """`name` as a copy of `template`, owned by the pipeline role. Per-database settings and grants are not
    copied by PostgreSQL: V008's jit and V016's grant are applied again (the owner has the grant anyway)."""
    with psycopg.connect(cluster.admin_url("postgres"), autocommit=True) as conn:
        # a template must have no session open; the builder's are closed, a stray one is ended
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (template,))
        conn.execute(sql.SQL("create database {} template {} owner coinbook_pipeline").format(
            sql.Identifier(name), sql.Identifier(template)))
        conn.execute(sql.SQL("alter database {} set jit = off").format(sql.Identifier(name)))
        conn.execute(sql.SQL("grant create, connect on database {} to coinbook_pipeline").format(
            sql.Identifier(name)))


def _registered(spec: WorldSpec, sandbox_url: str) -> list[Any]:
    from pipelines.services.accounts import specs_from_sandbox

    return [s for s in specs_from_sandbox(sandbox_url)
            if (not spec.accounts or s.account_id in spec.accounts) and (not spec.venues or s.venue in spec.venues)]


def _build(cluster: LocalCluster, spec: WorldSpec, template: str, sandbox: Any, now_ms: int,
           tmp: Path) -> tuple[Any, Any, dg.DagsterInstance]:
    """The template: migrated, the accounts registered, the plant, one run. Returns (planted, outcome, instance)."""
    from pipelines.app.ready import ensure_dbt_manifest
    from pipelines.app.runner import run_pipeline
    from pipelines.defs.exchanges.resources import ExchangeResource
    from pipelines.services.accounts import register_accounts
    from pipelines.services.venues import SEED_VENUES

    cluster.drop_database(template)  # a leftover of a crashed session with the same id
    cluster.create_database(template)
    cluster.migrate(template)
    url = cluster.url(template)
    ensure_dbt_manifest(get_settings(), url)
    planted = spec.plant(sandbox.world, now_ms) if spec.plant else None
    wh = Warehouse(url)
    register_accounts(wh, _registered(spec, sandbox.url))
    if spec.prepare:
        spec.prepare(wh, planted, tmp)
    resources = ({"exchanges": ExchangeResource(sandbox_url=sandbox.url, database_url=url, home=str(tmp))}
                 if spec.private_home else None)
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp / "dagster"))
    outcome = run_pipeline(definitions_for(url, sandbox.url, resources), instance, wh, SEED_VENUES,
                           transform=spec.transform)
    assert outcome.success, [f for r in outcome.runs for f in r.failures + r.failed_checks]
    return planted, outcome, instance


@contextmanager
def synced_world(cluster: LocalCluster, spec: WorldSpec, tmp: Path) -> Iterator[Synced]:
    """A copy of `spec`'s world for one module (built first if no module of this session has built it), with
    a sandbox serving that world; the copy is dropped at the end, the template when the session ends
    (conftest.drop_world_templates). Under a lock per world: pytest-xdist's workers build each world once."""
    from sandbox.server import SandboxServer
    from warehouse.cluster import file_lock

    template = world_template(spec)
    marker = get_settings().home / WORLDS_DIR / f"{template}.json"
    copy = f"coinbook_{spec.name}_{uuid.uuid4().hex[:8]}"[:63]
    with SandboxServer(port=0, malformed=spec.malformed) as sandbox:
        outcome = instance = planted = None
        with file_lock(marker.with_suffix(".lock")):
            if marker.exists() and _exists(cluster, template):
                now_ms = json.loads(marker.read_text())["now_ms"]
                planted = spec.plant(sandbox.world, now_ms) if spec.plant else None
            else:
                now_ms = int(time.time() * 1000)
                planted, outcome, instance = _build(cluster, spec, template, sandbox, now_ms, tmp)
                marker.write_text(json.dumps({"now_ms": now_ms}))
            copy_database(cluster, template, copy)
        try:
            yield Synced(cluster.url(copy), sandbox, planted, outcome, instance)
        finally:
            cluster.drop_database(copy)


def _exists(cluster: LocalCluster, name: str) -> bool:
    with psycopg.connect(cluster.admin_url("postgres")) as conn:
        return conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


def drop_world_templates(cluster: LocalCluster, session: str) -> list[str]:
    """The templates (and markers) of test session `session`; returns the databases dropped."""
    with psycopg.connect(cluster.admin_url("postgres")) as conn:
        names = [n for (n,) in conn.execute("select datname from pg_database where datname like %s",
                                             (f"coinbook_world_{session}_%",)).fetchall()]
    for name in names:
        cluster.drop_database(name)
    for path in (get_settings().home / WORLDS_DIR).glob(f"coinbook_world_{session}_*"):
        path.unlink(missing_ok=True)
    return names
