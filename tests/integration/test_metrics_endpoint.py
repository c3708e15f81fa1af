"""The Prometheus endpoint after a real pipeline run: one venue's accounts synced from the sandbox
(malformed records on, so the gate quarantines some), the fast tier's transform (gates and models up to positions),
in-process Dagster runs on an instance of the test's own. Every value scraped over HTTP is compared with what the
ops tables and the run storage hold, read here with SQL of the test's own; `coinbook metrics serve` is scraped
once too, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pipelines.app.metrics import collector
from pipelines.app.runner import PipelineOutcome
from pipelines.domain.metrics import parse_exposition
from pipelines.services.metrics import CONTENT_TYPE, MetricsServer
from pipelines.sources.exchanges.venues import profile
from tests.support import WorldSpec, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]
VENUE = "binance"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
Scrape = tuple[Samples, tuple[float, float]]  # the samples, and the clock just before and after the scrape


# one venue's accounts: the cheapest real run; malformed records on, as the session's sandbox serves them
WORLD = WorldSpec("metrics", venues=(VENUE,), malformed=True, transform="positions_refresh", private_home=True)


@pytest.fixture(scope="module")
def world(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with synced_world(cluster, WORLD, tmp_path_factory.mktemp("metrics")) as synced:
        # the run's Dagster instance and outcome are compared with the database: this world is this module's alone
        assert synced.instance is not None, "the metrics world is built by this module, not copied"
        yield {"url": synced.url, "wh": Warehouse(synced.url), "instance": synced.instance,
               "outcome": synced.outcome}


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers["Content-Type"], response.read().decode()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def of(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def key(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@pytest.fixture(scope="module")
def scraped(world: dict[str, Any]) -> Scrape:
    with MetricsServer(collector(world["wh"], world["instance"]), port=0) as server:
        before = time.time()
        content_type, text = scrape(server.url)
        after = time.time()
    assert content_type == CONTENT_TYPE
    return parse_exposition(text), (before, after)


def test_the_pipeline_ran_and_left_something_to_measure(world: dict[str, Any]) -> None:
    outcome = world["outcome"]
    assert outcome.success, [f for r in outcome.runs for f in r.failures]
    assert outcome.inserted > 0


def test_sync_rows_runs_and_lag_are_the_sync_logs(world: dict[str, Any], scraped: Scrape) -> None:
    samples, (before, after) = scraped
    rows = query(world["url"], """
        select tenant_id, account_id, source, endpoint, sum(fetched), sum(inserted),
               count(*) filter (where status = 'ok'), count(*) filter (where status = 'failed'),
               extract(epoch from max(finished_at) filter (where status = 'ok'))::float8,
               count(*) filter (where finished_at is not null),
               sum(extract(epoch from finished_at - started_at))::float8
        from ops.sync_log group by 1, 2, 3, 4""")
    assert {r[2] for r in rows} == {VENUE}, rows
    fetched = of(samples, "coinbook_sync_rows_fetched_total")
    ingested = of(samples, "coinbook_sync_rows_ingested_total")
    runs, last = of(samples, "coinbook_sync_runs_total"), of(samples, "coinbook_sync_last_success_timestamp_seconds")
    lag, dur_sum = of(samples, "coinbook_sync_lag_seconds"), of(samples, "coinbook_sync_duration_seconds_sum")
    dur_count = of(samples, "coinbook_sync_duration_seconds_count")
    assert len(ingested) == len(rows)
    for tenant, account, source, endpoint, got, new, ok, failed, finished, count, seconds in rows:
        k = key(tenant=tenant, account=account, source=source, endpoint=endpoint)
        assert (fetched[k], ingested[k]) == (got, new), k
        assert runs[k | {("status", "ok")}] == ok and runs[k | {("status", "failed")}] == failed
        assert last[k] == pytest.approx(finished, abs=1e-3)
        assert before - finished - 1 <= lag[k] <= after - finished + 1  # the database's now() during the scrape
        assert (dur_sum[k], dur_count[k]) == (pytest.approx(seconds, abs=1e-3), count)
    assert sum(ingested.values()) > 0


def test_quarantine_is_the_gates(world: dict[str, Any], scraped: Scrape) -> None:
    samples, _ = scraped
    rows = query(world["url"], "select raw_table, source, sum(rows_checked), sum(quarantined), "
                               "count(*) filter (where held) from ops.gate_partitions group by 1, 2")
    checked, bad = of(samples, "coinbook_gate_rows_checked"), of(samples, "coinbook_gate_rows_quarantined")
    ratio, held = of(samples, "coinbook_gate_quarantine_ratio"), of(samples, "coinbook_gate_partitions_held")
    assert len(checked) == len(rows) > 0
    for raw_table, source, n, q, h in rows:
        k = key(raw_table=raw_table, source=source)
        assert (checked[k], bad[k], held[k]) == (n, q, h)
        assert ratio[k] == pytest.approx(float(q) / float(n) if n else 0.0)
    assert sum(bad.values()) > 0  # the sandbox's malformed records were met
    total = of(samples, "coinbook_quarantine_rows_total")
    assert total == {key(raw_table=t): c for t, c in query(world["url"], "select raw_table, count(*) "
                                                                          "from ops.quarantine group by 1")}


def test_api_calls_and_budget_use_are_the_api_usage(world: dict[str, Any], scraped: Scrape) -> None:
    samples, _ = scraped
    rows = query(world["url"], "select venue, budget, sum(calls), sum(retries), max(calls) from ops.api_usage "
                               "group by 1, 2")
    calls, use = of(samples, "coinbook_api_calls_total"), of(samples, "coinbook_api_budget_use_ratio")
    budget, peak = of(samples, "coinbook_api_budget_calls_per_minute"), of(samples, "coinbook_api_calls_peak_minute")
    assert {v for v, *_ in rows} >= {VENUE}
    assert {b for _, b, *_ in rows} == {"venue"}  # Binance counts per IP: one budget for every key
    for venue, charged_to, total, retries, most in rows:  # every call of this test was in the last hour
        k, kb = key(venue=venue), key(venue=venue, budget=charged_to)
        assert (calls[k], of(samples, "coinbook_api_retries_total")[k], peak[kb]) == (total, retries, most)
        assert budget[kb] == profile(venue).request_budget
        assert use[kb] == pytest.approx(most / profile(venue).request_budget)
    # at least what the account runs reported as their calls (the market-data run's tickers come on top)
    assert calls[key(venue=VENUE)] >= sum(r.api_calls for r in world["outcome"].runs if r.partition) > 0


def test_run_durations_are_dagsters(world: dict[str, Any], scraped: Scrape) -> None:
    samples, _ = scraped
    outcome: PipelineOutcome = world["outcome"]
    recent = of(samples, "coinbook_dagster_recent_runs")
    last = of(samples, "coinbook_dagster_last_run_duration_seconds")
    longest = of(samples, "coinbook_dagster_recent_run_duration_seconds_max")
    jobs = {r.job for r in outcome.runs}
    for job in jobs:
        mine = [r for r in outcome.runs if r.job == job]
        assert recent[key(job=job, status="SUCCESS")] == len(mine)
        # the run storage's start..end lies inside the wall time the runner measured around execute_in_process
        assert 0 < last[key(job=job)] <= mine[-1].seconds + 0.5
        assert last[key(job=job)] <= longest[key(job=job)] <= max(r.seconds for r in mine) + 0.5
    assert {dict(k)["job"] for k in recent} == jobs


def test_a_warehouse_that_does_not_answer_is_up_zero_not_an_error(world: dict[str, Any]) -> None:
    down = Warehouse(make_conninfo(world["url"], port="1", connect_timeout="3"))  # nothing listens on port 1
    with MetricsServer(collector(down), port=0) as server:
        _, text = scrape(server.url)
    assert parse_exposition(text) == {("coinbook_up", frozenset()): 0.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cli_serves_the_same_and_stops_on_sigterm(world: dict[str, Any], scraped: Scrape) -> None:
    port = _free_port()
    env = {**os.environ, "COINBOOK_DATABASE_URL": world["url"]}
    process = subprocess.Popen([str(Path(sys.executable).with_name("coinbook")), "metrics", "serve", "--port",
                                str(port), "--no-dagster"], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline, text = time.monotonic() + 120, None
        while text is None and time.monotonic() < deadline and process.poll() is None:
            try:
                _, text = scrape(f"http://127.0.0.1:{port}/metrics")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert text is not None, process.stdout.read().decode() if process.stdout else ""
        samples = parse_exposition(text)
        assert of(samples, "coinbook_sync_rows_ingested_total") == of(scraped[0], "coinbook_sync_rows_ingested_total")
        assert of(samples, "coinbook_dagster_recent_runs") == {}  # --no-dagster
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
