"""`coinbook prepare | run | summary | dev`: the pipeline as a person runs it."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import typer

from pipelines.app.console import console
from pipelines.app.processes import run_process_group
from pipelines.app.ready import ready
from pipelines.app.summary import render_alerts, render_summary
from pipelines.services.accounts import register_accounts, specs_from_sandbox, specs_from_yaml
from pipelines.services.alerts import open_alerts
from pipelines.services.summary import read_summary
from pipelines.settings import CoinbookSettings, get_settings, resolve_database_url
from warehouse.connection import Warehouse

DEMO_SANCTIONS_LIST_NAME = "OFAC SDN (sandbox demo)"


def prepare() -> None:
    """Set up the warehouse (start + migrate) and build the dbt manifest that dagster-dbt needs."""
    with ready(get_settings()) as env:
        console.print(f"ready: warehouse {env.database_url}")


def run(
    sandbox_accounts: bool = typer.Option(True, "--sandbox/--no-sandbox",
                                          help="Register and sync the sandbox's demo accounts."),
    malformed: bool = typer.Option(True, help="Let the sandbox emit a few malformed records (shows the gate)."),
    full_refresh: bool = typer.Option(False, "--full-refresh",
                                      help="Build every dbt model again, even those whose inputs did not change."),
) -> None:
    """Run the whole pipeline once: sync every account, gate, model, and print positions and reconciliation. A model
    whose inputs (its SQL and the content of every table it reads) are what they were at its last build is kept as
    it is; --full-refresh builds everything."""
    started = time.monotonic()
    settings = get_settings()
    console.print("[dim]starting the warehouse" + (" and the sandbox" if sandbox_accounts else "") + "[/]")
    with ready(settings, sandbox=sandbox_accounts, malformed=malformed) as env:
        console.print(f"[dim]warehouse[/] {env.database_url}")
        success = _run_pipeline(settings, env.database_url, sandbox_accounts, full_refresh)
    console.print(f"\n[bold]done in {time.monotonic() - started:.1f} s[/]")
    if not success:
        raise typer.Exit(code=1)


def _run_pipeline(settings: CoinbookSettings, url: str, sandbox_accounts: bool, full_refresh: bool = False) -> bool:
    """Register the accounts, run the nightly tier once in-process (one line per run), print the summary."""
    import dagster as dg

    from pipelines.app.runner import RunOutcome, run_pipeline
    from pipelines.definitions import build_definitions
    from pipelines.services.venues import all_venues

    wh = Warehouse(url)
    specs = specs_from_sandbox(settings.sandbox_url) if sandbox_accounts else []
    if settings.accounts_file:
        specs += specs_from_yaml(settings.accounts_file)
    if specs:
        register_accounts(wh, specs)
    if sandbox_accounts:
        load_demo_sanctions_list(wh)
        load_demo_kyc(wh)

    def report(outcome: RunOutcome) -> None:
        mark = "[green]ok[/]" if outcome.success else "[red]FAILED[/]"
        what = outcome.partition or ("tickers and candles" if outcome.job in ("market_data", "tickers_refresh")
                                     else "quality gate, dbt models")
        console.print(f"  {mark} {outcome.job:<24} {what:<32} +{outcome.inserted} rows, "
                      f"{outcome.api_calls} API calls, {outcome.seconds:.1f} s")
        for failure in outcome.failures:
            console.print(f"      [red]{failure}[/]")
        for check in outcome.failed_checks:
            console.print(f"      [red]check failed: {check}[/]")
        for check in outcome.warned_checks:
            held = " (accounts held back by the quality gate: see the summary)" if "expectations_gate" in check else ""
            console.print(f"      [yellow]check warns: {check}[/]{held}")

    # dbt (through dagster-dbt) and Dagster's step logs go to a log file; the console gets one line per run.
    log_path = settings.home / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]running the pipeline[/] [dim](details: {log_path})[/]")
    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        outcome = run_pipeline(build_definitions(settings), dg.DagsterInstance.get(), wh,
                               all_venues(settings.venues), on_run=report, full_refresh=full_refresh,
                               sync_lanes=settings.sync_lanes)
    console.print()
    render_summary(read_summary(wh), console)
    render_alerts(open_alerts(wh), console)
    console.print(
        f"\n{outcome.inserted} new raw rows this run. Next:\n"
        f"  [bold]make dev[/]                      Dagster UI on http://127.0.0.1:3000 (same warehouse and runs)\n"
        f"  [bold]psql \"$(.venv/bin/coinbook warehouse url --show-password)\"[/]   then e.g. select * from "
        f"marts.reconciliation;\n"
        f"  [bold]coinbook users add NAME --role accountant --tenant T[/]   a login of one's own (README: SQL access)"
    )
    return outcome.success


def load_demo_sanctions_list(wh: Warehouse) -> None:
    """The sandbox's demo sanctions list (SDN layout; one of its addresses is paid by the demo world), under a name of
    its own so that a real OFAC SDN list loaded later is a list apart, not a newer version of the demo's."""
    from pipelines.services.screening import load_sanctions_file
    from sandbox.world import SANCTIONS_DEMO_LIST

    loaded = load_sanctions_file(wh, SANCTIONS_DEMO_LIST, list_name=DEMO_SANCTIONS_LIST_NAME)
    if loaded.new:
        console.print(f"[dim]sanctions list[/] {loaded.list_name} {loaded.version}: {loaded.address_count} addresses")


def load_demo_kyc(wh: Warehouse) -> None:
    """The sandbox tenants' KYC register (sandbox/kyc/demo_register.yaml), for a tenant that has none yet: without
    it every demo tenant is flagged and raises a critical kyc_invalid each night. Written by the pipeline, so its
    rows and audit links say coinbook_pipeline, not a person."""
    import yaml

    from pipelines.services.compliance import seed_register
    from sandbox.world import KYC_DEMO_REGISTER

    register = yaml.safe_load(KYC_DEMO_REGISTER.read_text())["tenants"]
    for tenant in seed_register(wh, register, datetime.now(UTC).date()):
        console.print(f"[dim]KYC register (demo)[/] {tenant}: {len(register[tenant])} subjects, verified")


def summary() -> None:
    """Print positions, PnL, risk, reconciliation and the open alerts from the marts. Only reads: nothing is
    synced, evaluated, written or sent."""
    wh = Warehouse(resolve_database_url(get_settings()))
    render_summary(read_summary(wh), console)
    render_alerts(open_alerts(wh), console)


def dev(port: int = typer.Option(3000, help="Dagster UI port.")) -> None:
    """Dagster UI (`dagster dev`) on the same warehouse and run storage, with the sandbox running. Ctrl-C or
    SIGTERM stops every Dagster process (webserver, daemon, code servers) and the sandbox."""
    settings = get_settings()
    with ready(settings, sandbox=True) as env:
        dagster = Path(sys.executable).with_name("dagster")
        console.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={env.dagster_home}); Ctrl-C to stop")
        code, stopped = run_process_group(
            [str(dagster), "dev", "-w", "workspace.yaml", "-p", str(port)],
            env={**os.environ, "DAGSTER_HOME": str(env.dagster_home),
                 "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"})
    if code != 0 and not stopped:
        console.print(f"[red]dagster dev exited with code {code}[/]")
        raise typer.Exit(code=1)
