"""Schedules and sensors evaluated for real against an ephemeral Dagster instance and the warehouse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest

from pipelines.defs.common import TICK_TAG, TIER_TAG


@pytest.fixture(scope="module")
def database_url(cluster: Any) -> Iterator[str]:
    """A database of this module's own: the accounts registered here have credentials nobody holds, and in the
    worker's shared session database a later module that syncs every account (test_pipeline) would fail on them."""

    name = f"coinbook_sched_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    yield url
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def defs(database_url: str) -> dg.Definitions:
    from tests.support import definitions_for

    return definitions_for(database_url, "http://127.0.0.1:9")


@pytest.fixture
def accounts(database_url: str) -> list[str]:
    from pipelines.services.accounts import AccountSpec, register_accounts
    from warehouse.connection import Warehouse

    specs = [AccountSpec("sched", "Schedule Co", "p1", "P1", f"sched-acc-{i}", "binance", f"A{i}", "live",
                         "env:nobody") for i in (1, 2)]
    register_accounts(Warehouse(database_url), specs)
    return [f"sched.sched-acc-{i}" for i in (1, 2)]


def test_everything_starts_stopped_and_the_ui_graph_is_one_piece(defs: dg.Definitions) -> None:
    repo = defs.get_repository_def()
    for schedule in repo.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    for sensor in repo.sensor_defs:
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    graph = repo.asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_binance_trades", "stg_binance__trades", "int_ledger", "positions", "reconciliation"} <= keys
    # lineage from the API to the marts is unbroken: every per-account raw asset feeds positions
    ancestors, frontier = set(), [dg.AssetKey("positions")]
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.append(parent)
    names = {k.to_user_string() for k in ancestors}
    assert {"raw_binance_trades", "raw_binance_transfers", "int_ledger"} <= names
    checks = {k.to_user_string() for k in graph.asset_check_keys}
    for table in ("balances", "trades", "transfers", "tickers", "ohlcv"):
        assert f"raw_binance_{table}:great_expectations_gate" in checks
    assert any(c.startswith("positions:") for c in checks)  # dbt tests appear as asset checks


def test_fast_schedule_fans_out_one_run_per_account(defs: dg.Definitions, accounts: list[str]) -> None:
    schedule = defs.get_schedule_def("binance_fast_sync")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.job_name == "binance_balances_sync"  # the fast tier refreshes balances only
    when = datetime(2026, 11, 24, 12, 15, tzinfo=UTC)
    with dg.instance_for_test() as instance:  # schedules read partitions through a persistent instance
        instance.add_dynamic_partitions("binance_accounts", accounts)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                            repository_def=defs.get_repository_def())
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert sorted(r.partition_key for r in requests) == sorted(accounts)
    assert {r.tags[TIER_TAG] for r in requests} == {"fast"}
    nightly = defs.get_schedule_def("binance_nightly_sync")
    assert nightly.cron_schedule == "0 2 * * *" and nightly.job_name == "binance_account_sync"
    fast_job = defs.resolve_job_def("binance_balances_sync")
    assert {k.to_user_string() for k in fast_job.asset_layer.selected_asset_keys} == {"raw_binance_balances"}


def test_new_account_sensor_adds_partition_and_backfills(defs: dg.Definitions, accounts: list[str],
                                                         database_url: str) -> None:
    from pipelines.defs.common import WarehouseResource

    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.get_sensor_def("binance_new_accounts")
    resources = {"warehouse": WarehouseResource(database_url=database_url)}
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources) as context:
        result = sensor(context)
    new_keys = [k for req in result.dynamic_partitions_requests for k in req.partition_keys]
    assert set(accounts) <= set(new_keys)
    assert {r.partition_key for r in result.run_requests} == set(new_keys)
    instance.add_dynamic_partitions("binance_accounts", new_keys)
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources) as context:
        again = sensor(context)
    assert not again.run_requests and not again.dynamic_partitions_requests  # nothing new: nothing to do


def test_transform_waits_for_every_account_sync_of_the_tick(defs: dg.Definitions) -> None:
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.get_sensor_def("transform_after_account_syncs")
    tags = {TIER_TAG: "fast", TICK_TAG: "2026-11-24T12:15:00+00:00"}
    finished = instance.create_run_for_job(defs.resolve_job_def("binance_account_sync"), tags=tags)
    instance.report_run_canceled(finished)
    pending = instance.create_run_for_job(defs.resolve_job_def("binance_account_sync"), tags=tags)
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        assert not list(sensor(context) or [])  # one sync still queued: wait
    instance.report_run_failed(pending)  # a failed account does not block the others' transform
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        requests = list(sensor(context) or [])
    assert [r.job_name for r in requests] == ["tickers_refresh"]  # first the tick's prices...
    assert requests[0].tags == tags
    market = instance.create_run_for_job(defs.resolve_job_def("tickers_refresh"), tags=tags)
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        assert not list(sensor(context) or [])  # ...the transform waits for them
    instance.report_run_failed(market)  # a venue down: the transform runs on the prices there are
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        requests = list(sensor(context) or [])
    assert [r.job_name for r in requests] == ["positions_refresh"]
