"""The dashboards in a real browser, as a tenant's viewer: a database of its own built by the real pipeline on
the sandbox, Superset set up by the same service as `coinbook dashboards up` (its own virtualenv, on a free
port), headless Chromium (Debian's, installed when missing) opening every dashboard. A chart that errors or
shows nothing fails; PNGs land in .coinbook/screenshots/. A viewer of one tenant reads none of another's rows
through Superset's chart-data API, dataset by dataset.

Limits the demo world breaks are set before the run, so that the open-alerts charts have rows: a VaR limit of 2 %
for every tenant (their 1-day 99 % VaR is 2.5–3 % of their value) and a freshness limit of one second on one account
of ALERTING's (stale by the time the transform judges it). ALERTING's viewer opens every dashboard and every chart
must draw; QUIET's has no stale source, and its viewer must see that chart say there is none ("No results"), not fail.
"""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.app.ready import ensure_dbt_manifest
from pipelines.app.runner import run_pipeline
from pipelines.domain.dashboards import (
    CHARTS_BY_KEY,
    DASHBOARDS,
    DATASETS,
    DATASETS_BY_MART,
    PUBLIC_TENANT,
    Dashboard,
)
from pipelines.services import dashboards, dashboards_bundle
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.services.venues import SEED_VENUES
from sandbox.server import SandboxServer
from tests.support import admin_warehouse, definitions_for
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
BROWSER = Path(__file__).with_name("dashboard_browser.py")
ALERTING, QUIET = "acme", "bluefin"
STALE_ACCOUNT = ("kraken", "acme-kraken", "transfers")  # ALERTING's
# the dashboards where QUIET's viewer finds a chart with nothing to show (the rest are ALERTING's test)
QUIET_DASHBOARDS = ("reconciliation", "risk")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def built(cluster: LocalCluster, settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own with the marts of one pipeline run on the sandbox."""
    name = f"coinbook_dash_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    ensure_dbt_manifest(settings, url)
    with SandboxServer(port=0, malformed=True) as sandbox:
        wh = Warehouse(url)
        register_accounts(wh, specs_from_sandbox(sandbox.url))
        _limits_the_world_breaks(url)
        instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path_factory.mktemp("dagster")))
        outcome = run_pipeline(definitions_for(url, sandbox.url), instance, wh, SEED_VENUES)
        assert outcome.success, [f for r in outcome.runs for f in r.failures + r.failed_checks]
    yield url
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def superset(built: str, settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dashboards.Status]:
    root = tmp_path_factory.mktemp("superset")
    # one virtualenv for the project and its tests (installed from the lock when missing: ~15 s)
    try:
        status, _ = dashboards.up(root, built, _free_port(), venv=settings.home / "superset" / "venv",
                                  admin_url=admin_warehouse(built).database_url)
        yield status
    finally:
        dashboards.down(root)
        # the warehouse logins are cluster-wide: they go with this module's database
        dashboards.remove_db_logins(built, [t for (t,) in _query(built, "SELECT tenant_id FROM ops.tenants")],
                                    admin_url=admin_warehouse(built).database_url)


def _limits_the_world_breaks(url: str) -> None:
    venue, account, endpoint = STALE_ACCOUNT
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO ops.risk_limits (tenant_id, var_99_1d_share) SELECT tenant_id, 0.02 FROM ops.tenants")
        conn.execute("INSERT INTO ops.freshness_limits (tenant_id, venue, account_id, endpoint, max_age) "
                     "VALUES (%s, %s, %s, %s, interval '1 second')", (ALERTING, venue, account, endpoint))


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _nothing_to_show(url: str, tenant: str, dashboard: Dashboard) -> set[str]:
    """The titles of the dashboard's charts that have no row for `tenant` in the warehouse (the chart's mart under
    its filters): those must say so, every other chart must draw. A big number counts, and shows 0."""
    empty = set()
    for key in dashboard.chart_keys:
        chart = CHARTS_BY_KEY[key]
        if chart.viz == "big_number_total":
            continue
        tenants = [tenant, PUBLIC_TENANT] if DATASETS_BY_MART[chart.mart].shared else [tenant]
        where = "".join(f" AND ({f['sqlExpression']})" for f in chart.params.get("adhoc_filters", []))
        (rows,), = _query(url, f"SELECT count(*) FROM marts.{chart.mart} WHERE tenant_id = ANY(%s){where}",
                          (tenants,))
        if rows == 0:
            empty.add(chart.title)
    return empty


def _browse(superset: dashboards.Status, settings: Any, tenant: str, slugs: list[str],
            screenshots: Path) -> dict[str, Any]:
    chromium, chromedriver = dashboards.ensure_chromium()
    viewer = dashboards.viewer_name(tenant)
    python = settings.home / "superset" / "venv" / "bin" / "python"  # selenium ships with Superset
    result = subprocess.run(
        [str(python), str(BROWSER), superset.url, viewer, superset.logins[viewer], str(screenshots), str(chromium),
         str(chromedriver), *slugs], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_dashboard_renders_every_chart_for_a_tenant_viewer(superset: dashboards.Status, built: str,
                                                                 settings: Any) -> None:
    screenshots = settings.home / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    report = _browse(superset, settings, ALERTING, [dashboard.slug for dashboard in DASHBOARDS], screenshots)
    for dashboard in DASHBOARDS:
        seen = report[dashboard.slug]
        assert _nothing_to_show(built, ALERTING, dashboard) == set(), \
            f"{ALERTING} has a chart without rows on {dashboard.slug}: this test would not see it draw"
        assert seen["charts"] == len(dashboard.chart_keys), (dashboard.slug, seen)
        assert seen["errors"] == [], (dashboard.slug, seen["errors"])
        assert seen["empty"] == [], (dashboard.slug, seen["empty"])
        assert Path(seen["png"]).stat().st_size > 10_000


def test_a_chart_with_nothing_to_show_says_so_and_the_rest_draw(superset: dashboards.Status, built: str,
                                                                settings: Any) -> None:
    screenshots = settings.home / "screenshots" / QUIET
    screenshots.mkdir(parents=True, exist_ok=True)
    report = _browse(superset, settings, QUIET, list(QUIET_DASHBOARDS), screenshots)
    expected = {slug: _nothing_to_show(built, QUIET, next(d for d in DASHBOARDS if d.slug == slug))
                for slug in QUIET_DASHBOARDS}
    assert expected["reconciliation"], f"{QUIET} should have no stale source: the empty case would go untested"
    for slug in QUIET_DASHBOARDS:
        assert report[slug]["errors"] == [], (slug, report[slug]["errors"])
        assert set(report[slug]["empty"]) == expected[slug], (slug, report[slug]["empty"], expected[slug])


def _tenants_isolated(superset: dashboards.Status, built: str) -> None:
    """Each tenant's viewer reads, in every dataset, its own rows (and the shared market data) and no other's."""
    tenants = [tenant for (tenant,) in _query(built, "SELECT tenant_id FROM ops.tenants ORDER BY 1")]
    assert len(tenants) >= 2, "the sandbox world has two tenants: isolation needs both"
    for tenant in tenants:
        api = dashboards.Api(superset.url, dashboards.viewer_name(tenant), superset.logins[
            dashboards.viewer_name(tenant)])
        ids = {row["table_name"]: row["id"] for row in api.all("/api/v1/dataset/")}
        for dataset in DATASETS:
            others = _query(built, f"SELECT count(*) FROM marts.{dataset.mart} "
                                   f"WHERE tenant_id NOT IN ('{tenant}', '{PUBLIC_TENANT}')")[0][0]
            data = api.post("/api/v1/chart/data", {
                "datasource": {"id": ids[dataset.mart], "type": "table"}, "result_format": "json",
                "result_type": "full", "queries": [{"columns": ["tenant_id"], "row_limit": 1000, "metrics": [
                    {"expressionType": "SQL", "sqlExpression": "COUNT(*)", "label": "n"}]}]})["result"][0]["data"]
            seen = {row["tenant_id"] for row in data}
            allowed = {tenant, PUBLIC_TENANT} if dataset.shared else {tenant}
            assert seen and seen <= allowed, (tenant, dataset.mart, seen)
            if not dataset.shared:
                assert others > 0, f"marts.{dataset.mart} has no other tenant's rows: the check would prove nothing"


def test_a_viewer_reads_only_its_tenants_rows_in_every_dataset(superset: dashboards.Status, built: str) -> None:
    _tenants_isolated(superset, built)  # Superset's row-level filters and PostgreSQL's, together
    assert any(login.startswith("superset_") for (login,) in _query(built, "SELECT login FROM ops.user_tenants")), \
        "Superset connects as a warehouse login of its own (coinbook users), not as the pipeline"
    # Superset's filters turned off: the viewers' warehouse logins (SET ROLE by the connection mutator) still
    # see their tenant only — PostgreSQL's row-level security holds on its own
    admin = dashboards.Api(superset.url, dashboards.ADMIN, superset.logins[dashboards.ADMIN])
    for rule in admin.all("/api/v1/rowlevelsecurity/"):
        full = admin.get(f"/api/v1/rowlevelsecurity/{rule['id']}")["result"]
        admin.put(f"/api/v1/rowlevelsecurity/{rule['id']}", {
            "name": full["name"], "filter_type": full["filter_type"], "clause": "1 = 1",
            "group_key": full["group_key"], "tables": [table["id"] for table in full["tables"]],
            "roles": [role["id"] for role in full["roles"]]})
    _tenants_isolated(superset, built)


def test_each_dataset_lists_the_columns_the_built_mart_has(built: str) -> None:
    # The unit tests hold the bundle to the dbt YAML; this holds the YAML to what dbt actually built.
    built_columns = {}
    for table, column in _query(built, "SELECT table_name, column_name FROM information_schema.columns "
                                       "WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position"):
        built_columns.setdefault(table, []).append(column)
    for mart, columns in dashboards_bundle.dataset_columns().items():
        assert [name for name, _ in columns] == built_columns[mart], mart
