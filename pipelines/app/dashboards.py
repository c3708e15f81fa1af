"""`coinbook dashboards up|down|status`: Superset on 127.0.0.1 with Coinbook's dashboards (pipelines/services/
dashboards.py; `make dashboards`)."""

from __future__ import annotations

import typer

from pipelines.app.console import console
from pipelines.app.ready import ensure_warehouse
from pipelines.services import dashboards
from pipelines.services.dashboards import Status
from pipelines.settings import get_settings, resolve_admin_url

app = typer.Typer(help="Superset dashboards (portfolio, reconciliation, PnL & tax, risk, prices) on 127.0.0.1.",
                  no_args_is_help=True)


def _print(status: Status) -> None:
    console.print(str(status))
    if status.running:
        for slug in dashboards.dashboard_slugs():
            console.print(f"  {status.url}/superset/dashboard/{slug}/")
    if status.logins:
        console.print("logins (kept in .coinbook/superset/secrets.json, mode 0600):")
        for username, password in status.logins.items():
            console.print(f"  {username:<16} {password}", highlight=False, markup=False)


@app.command("up")
def up() -> None:
    """Install Superset in its own virtualenv (first time: a few minutes), import the dashboards again, create a
    viewer login per tenant (row-level filtered to its tenant) and start it on COINBOOK_SUPERSET_PORT."""
    settings = get_settings()
    database_url = ensure_warehouse(settings)
    console.print("dashboards: setting up Superset (first time: ~3 min; then ~1 min)…")
    status, steps = dashboards.up(settings.home / "superset", database_url, settings.superset_port,
                                  admin_url=resolve_admin_url(settings))
    console.print("done: " + ", ".join(steps))
    _print(status)


@app.command("down")
def down() -> None:
    """Stop Superset (its metadata, logins and secrets are kept)."""
    stopped = dashboards.down(get_settings().home / "superset")
    console.print("superset stopped" if stopped else "superset was not running")


@app.command("status")
def status() -> None:
    """Is Superset running, where, the dashboards and the logins."""
    settings = get_settings()
    _print(dashboards.status(settings.home / "superset", settings.superset_port))
