"""`coinbook metrics serve|show`: the Prometheus endpoint (pipelines/services/metrics.py) over the warehouse's ops
tables and, when it is reachable, Dagster's run storage (run counts and durations per job). Only reads."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import typer

from pipelines.app.console import console
from pipelines.domain.metrics import Family, RunInfo, render, run_families
from pipelines.services.metrics import MetricsServer, warehouse_metrics
from pipelines.settings import get_settings, resolve_database_url
from warehouse.connection import Warehouse

app = typer.Typer(help="Prometheus metrics: sync lag, rows, quarantine, API budget use, run durations.",
                  no_args_is_help=True)


def dagster_runs(instance: Any, limit: int | None = None) -> list[RunInfo]:
    """The newest `limit` runs (default: the setting metrics_runs) of a DagsterInstance's run storage as plain
    RunInfo (times in Unix seconds)."""
    return [RunInfo(r.dagster_run.job_name, r.dagster_run.status.value, r.start_time, r.end_time)
            for r in instance.get_run_records(limit=limit or get_settings().metrics_runs)]


def collector(wh: Warehouse, instance: Any | None = None) -> Callable[[], str]:
    """What one scrape renders: the warehouse's families, then the runs' (when an instance is given and answers)."""

    def collect() -> str:
        families: list[Family] = warehouse_metrics(wh)
        if instance is not None:
            # run storage down: the warehouse metrics are still worth a scrape
            with contextlib.suppress(Exception):
                families += run_families(dagster_runs(instance))
        return render(families)

    return collect


def _instance(with_dagster: bool) -> Any | None:
    """The Dagster instance of DAGSTER_HOME (as in Kubernetes, where the chart sets it), else the private
    cluster's (`coinbook run` / `coinbook dev`); None when asked not to or when there is none."""
    if not with_dagster:
        return None
    import dagster as dg  # only here: the CLI's other commands do not pay its import

    if not os.environ.get("DAGSTER_HOME"):
        settings = get_settings()
        if settings.database_url:
            return None  # an external warehouse without DAGSTER_HOME: where the run storage is, is unknown
        from pipelines.app.ready import dagster_home

        dagster_home(settings, resolve_database_url(settings))
    return dg.DagsterInstance.get()


@app.command()
def serve(port: int = typer.Option(9464, help="Port to listen on."),
          host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 in a container)."),
          dagster: bool = typer.Option(True, "--dagster/--no-dagster", help="Add Dagster's run counts and "
                                       "durations from DAGSTER_HOME's run storage.")) -> None:
    """Serve GET /metrics (Prometheus text format) until SIGTERM or Ctrl-C; every scrape reads afresh."""
    wh = Warehouse(resolve_database_url(get_settings()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with MetricsServer(collector(wh, _instance(dagster)), host=host, port=port) as server:
        console.print(f"metrics on http://{host}:{server.port}/metrics")
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass


@app.command()
def show(dagster: bool = typer.Option(True, "--dagster/--no-dagster", help="Add Dagster's runs.")) -> None:
    """Print one scrape (what GET /metrics would answer)."""
    wh = Warehouse(resolve_database_url(get_settings()))
    print(collector(wh, _instance(dagster))(), end="")
