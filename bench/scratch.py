"""The scratch world the pipeline benchmarks share: the private cluster up, a database of their own (migrated, the
dbt manifest built for it), the sandbox on an ephemeral port with every account it serves registered, the
definitions wired to both and a Dagster instance whose run and event storage is a Postgres database of its own on the
same cluster, as `coinbook run`'s is (several account syncs at once write to it: runner.py's `sync_lanes`); the
databases dropped at the end, whatever happens (the warehouse's kept with `keep=True`, for measuring it again)."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipelines.app.ready import dagster_yaml, ensure_dbt_manifest
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.settings import get_settings
from sandbox.server import SandboxServer
from sandbox.world import Scale
from tests.support import definitions_for
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse


@dataclass
class Scratch:
    url: str
    wh: Warehouse
    sandbox: SandboxServer
    defs: dg.Definitions
    instance: dg.DagsterInstance
    tmp: str
    generated_s: float  # the sandbox world's generation (minutes for the big scales: bench_scale prints it)
    name: str  # the database's, on the private cluster


@contextmanager
def scratch_world(*, malformed: bool = True, scale: Scale | None = None, keep: bool = False,
                  database: str | None = None) -> Iterator[Scratch]:
    """`database`: a database kept by an earlier run at the same scale (`keep=True`), measured again: migrated to
    this checkout, its accounts as they were, the sandbox's world generated again (the same world: deterministic);
    it is kept."""
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    name = database or f"bench_{uuid.uuid4().hex[:8]}"
    keep = keep or database is not None
    if database is None:
        cluster.create_database(name)
    cluster.create_database(f"{name}_dagster")
    url = cluster.url(name)
    instance: dg.DagsterInstance | None = None
    try:
        cluster.migrate(name)
        ensure_dbt_manifest(settings, url)
        t0 = time.perf_counter()
        server = SandboxServer(port=0, malformed=malformed, scale=scale)
        generated = time.perf_counter() - t0
        with server as sandbox, tempfile.TemporaryDirectory() as tmp:
            wh = Warehouse(url)
            if database is None:
                register_accounts(wh, specs_from_sandbox(sandbox.url))
            instance = postgres_instance(Path(tmp), cluster.admin_url(f"{name}_dagster"))
            yield Scratch(url, wh, sandbox, definitions_for(url, sandbox.url), instance, tmp, generated, name)
    finally:
        if instance is not None:
            instance.dispose()
        cluster.drop_database(f"{name}_dagster")
        if not keep:
            cluster.drop_database(name)


def postgres_instance(home: Path, storage_url: str) -> dg.DagsterInstance:
    """A Dagster instance in `home` whose run, event and schedule storage is the Postgres database `storage_url`,
    configured as `coinbook run`'s (ready.dagster_yaml)."""
    (home / "dagster.yaml").write_text(dagster_yaml(storage_url))
    return dg.DagsterInstance.from_config(str(home))
