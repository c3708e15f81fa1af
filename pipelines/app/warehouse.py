"""`coinbook warehouse …`: the private PostgreSQL cluster under .coinbook/ (or COINBOOK_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import typer

from pipelines.app.console import console
from pipelines.app.ready import ensure_warehouse
from pipelines.app.ready import migrate as migrate_warehouse
from pipelines.settings import get_settings, resolve_database_url
from warehouse import citus
from warehouse.cluster import LocalCluster
from warehouse.connection import mask_url

app = typer.Typer(help="The private PostgreSQL cluster under .coinbook/ (or COINBOOK_DATABASE_URL).",
                  no_args_is_help=True)


def _cluster() -> LocalCluster:
    settings = get_settings()
    return LocalCluster(settings.home, settings.pg_port, fast=settings.pg_fast)


@app.command("up")
def up() -> None:
    """Start the private cluster (initialising it on first use) and apply migrations."""
    console.print(f"warehouse up: [bold]{mask_url(ensure_warehouse(get_settings()))}[/]")


@app.command("down")
def down() -> None:
    """Stop the private cluster (data is kept)."""
    _cluster().down()
    console.print("warehouse stopped")


@app.command("status")
def status() -> None:
    """Is the private cluster running, where, which server binaries."""
    settings = get_settings()
    if settings.database_url:
        console.print(f"external warehouse (COINBOOK_DATABASE_URL): {mask_url(settings.database_url)}")
        return
    console.print(str(_cluster().status()))


@app.command("url")
def url(show_password: bool = typer.Option(False, "--show-password",
                                           help="Print the password too (the URL is then usable as is).")) -> None:
    """Print the connection URL (for psql, BI tools, dbt), its password as *** unless --show-password. The
    private cluster's URL is the pipeline role's: `psql "$(coinbook warehouse url --show-password)"`."""
    database_url = resolve_database_url(get_settings())
    masked = mask_url(database_url)
    typer.echo(database_url if show_password else masked)
    if masked != database_url and not show_password:
        typer.echo("(password masked: --show-password prints it)", err=True)


@app.command("migrate")
def migrate() -> None:
    """Apply pending migrations (re-runnable)."""
    applied = migrate_warehouse(get_settings())
    console.print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")


@app.command("citus-plan")
def citus_plan(update: Path | None = typer.Option(
        None, help="Replace the generated block of this file (deploy/citus.md) instead of printing it.")) -> None:
    """The Citus placement of every table (deploy/citus.md): the create_distributed_table /
    create_reference_table calls in order, and anything Citus would refuse (exit 1)."""
    with psycopg.connect(ensure_warehouse(get_settings())) as conn:
        planned = citus.plan(conn)
        block = citus.render(planned, citus.foreign_keys(conn))
        found = citus.problems(conn, planned)
    if update is None:
        typer.echo(block)
    else:
        text = update.read_text()
        start, end = text.index(citus.BEGIN), text.index(citus.END) + len(citus.END)
        update.write_text(text[:start] + block + text[end:])
        console.print(f"{update}: {len(planned)} tables placed")
    for p in found:
        console.print(f"[red]{p.table}[/]: {p.problem}")
    if found:
        raise typer.Exit(1)
