"""Shared fixtures: the real private PostgreSQL (one cluster, a fresh database per test session), the
exchange sandbox on an ephemeral port, and Coinbook definitions wired to both."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
# The private cluster without fsync while tests run (README: fast mode); `coinbook warehouse up` or any command
# run without it makes it durable again. Subprocesses (the CLI, dbt) inherit it.
os.environ.setdefault("COINBOOK_PG_FAST", "1")

# The modules that take minutes (each runs its own pipeline, or Superset) go first: `make test` hands whole modules
# to its workers in collection order (`--no-loadscope-reorder`: by default pytest-xdist re-sorts modules by their
# number of tests, which put the long modules with few tests — the CLI run, execution, metrics — last, a tail of
# ~8 minutes on one or two workers), and a long module started last is a tail the other workers wait out.
# test_execution, test_earn and test_rebalancing share one synced world
# (tests/support.synced_world): test_execution, the longest of them, first (it usually builds the world), the others
# later, so that world is usually built (or being built) by then; their own tests still take minutes (the CLI).
SLOW_FIRST = ("e2e/test_dashboards.py", "integration/test_pipeline.py", "integration/test_venue_semantics.py",
              "integration/test_resilience.py", "e2e/test_cli_run.py", "integration/test_asof_reports.py",
              "integration/test_execution.py", "integration/test_binance_earn.py",
              "integration/test_dbt_unit_tests.py", "integration/test_metrics_endpoint.py",
              "integration/test_earn.py", "integration/test_proposal_supersede.py",
              "integration/test_compliance_officers.py", "integration/test_arbitrage.py",
              "integration/test_rebalancing.py", "integration/test_model_reuse.py",
              "integration/test_execution_venues.py", "integration/test_routed_proposals.py")  # copy semantics' world


SESSION = "COINBOOK_TEST_SESSION"  # = tests.support.SESSION_ENV (not imported here: collection stays light)


def pytest_configure(config: pytest.Config) -> None:
    """One id per test session, set in the controller before pytest-xdist starts its workers (they inherit it):
    it names the synced worlds' templates the workers share (tests/support.synced_world)."""
    if not hasattr(config, "workerinput"):
        os.environ[SESSION] = uuid.uuid4().hex[:10]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller drops the session's world templates once every worker is done."""
    if hasattr(config, "workerinput") or not os.environ.get(SESSION):
        return
    from pipelines.settings import get_settings

    settings = get_settings()
    if not any((settings.home / "test-worlds").glob(f"coinbook_world_{os.environ[SESSION]}_*")):
        return  # no world asked for (a unit run): nothing heavy imported (test-worlds = support.WORLDS_DIR)
    from tests.support import drop_world_templates
    from warehouse.cluster import LocalCluster

    cluster = LocalCluster(settings.home, settings.pg_port)
    if settings.database_url or not cluster.initialised() or not cluster.status().running:
        return  # (initialised first: status() would write the pipeline's password file of a cluster never made)
    drop_world_templates(cluster, os.environ[SESSION])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i for i, slow in enumerate(SLOW_FIRST) if path.endswith(slow)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: within a module, and among the rest, the order stays as collected


@pytest.fixture(scope="session")
def settings():
    from pipelines.settings import get_settings

    return get_settings()


@pytest.fixture(scope="session")
def cluster(settings):
    from warehouse.cluster import LocalCluster

    if settings.database_url:
        pytest.skip("tests manage their own databases on the private cluster; unset COINBOOK_DATABASE_URL")
    cluster = LocalCluster(settings.home, settings.pg_port, fast=settings.pg_fast)
    cluster.up()
    return cluster


@pytest.fixture(scope="session")
def database_url(cluster, settings) -> Iterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    from pipelines.app.ready import ensure_dbt_manifest

    name = f"coinbook_test_{uuid.uuid4().hex[:10]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    ensure_dbt_manifest(settings, url)
    yield url
    cluster.drop_database(name)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[object]:
    """A sandbox whose API also returns a few malformed records, on an ephemeral port."""
    from sandbox.server import SandboxServer

    with SandboxServer(port=0, malformed=True) as server:
        yield server
