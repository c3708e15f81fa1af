"""`coinbook audit …`: verify the hash-chained history (migration V018), keep its daily checkpoints (and export
them, so an auditor can hold them outside the warehouse), and the maintenance path, the one way to change a raw
row (chained, with its reason)."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.markup import escape

from pipelines.app.console import console, err_console
from pipelines.app.ready import ensure_warehouse
from pipelines.services.audit import verify
from pipelines.settings import get_settings, resolve_admin_url
from warehouse import audit as store
from warehouse.connection import Warehouse

app = typer.Typer(help="The audit chain: verify it, its daily checkpoints, the maintenance path.",
                  no_args_is_help=True)


@app.command("verify")
def verify_command(tenant: str | None = typer.Option(None, "--tenant", help="One tenant (default: every one)."),
                   since: datetime | None = typer.Option(None, "--since", formats=["%Y-%m-%d"],
                                                         help="From the last checkpoint before this day.")) -> None:
    """Recompute each tenant's chain and every chained record's content hash; name the first broken link and
    the records involved. Exit 1 when anything is broken."""
    wh = Warehouse(ensure_warehouse(get_settings()))
    verdicts = verify(wh, tenant, since.date() if since else None)
    if not verdicts:
        console.print("no chain yet (nothing ingested)")
    for verdict in verdicts:
        for line in verdict.describe():
            (console if verdict.intact else err_console).print(escape(line), highlight=False)
    if not all(v.intact for v in verdicts):
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint(day: datetime | None = typer.Option(None, "--day", formats=["%Y-%m-%d"],
                                                   help="Default: today (UTC).")) -> None:
    """Store each tenant's chain head as the day's checkpoint (the nightly run does it too)."""
    wh = Warehouse(ensure_warehouse(get_settings()))
    written = store.write_checkpoints(wh, day.date() if day else datetime.now(UTC).date())
    console.print(f"checkpoints written: {written}")


@app.command("checkpoints")
def export_checkpoints(tenant: str | None = typer.Option(None, "--tenant"),
                       out: Path | None = typer.Option(None, "--out", help="CSV file (default: the terminal).")
                       ) -> None:
    """The stored checkpoints as CSV (tenant_id, day, seq, hash): keep them outside the warehouse."""
    wh = Warehouse(ensure_warehouse(get_settings()))
    with wh.connect() as conn:
        rows = store.checkpoints(conn, tenant)
    handle = out.open("w", newline="") if out else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(["tenant_id", "day", "seq", "hash"])
        for tenant_id, day, seq, digest in rows:
            writer.writerow([tenant_id, day.isoformat() if isinstance(day, date) else day, seq, digest.hex()])
    finally:
        if out:
            handle.close()
            console.print(f"{len(rows)} checkpoints written to {out}")


@app.command("maintain")
def maintain(statement: str = typer.Argument(..., help="An UPDATE or DELETE of raw rows."),
             reason: str = typer.Option(..., "--reason", help="Why: recorded in the chain with the change.")) -> None:
    """Change raw rows, which are otherwise append-only: as the warehouse's superuser, with a reason; the chain
    records what changed, who and why."""
    settings = get_settings()
    ensure_warehouse(settings)
    try:
        touched = store.maintain(Warehouse(resolve_admin_url(settings)), reason, statement)
    except ValueError as exc:
        err_console.print(f"refused: {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(f"{touched} rows changed; chained with the reason {reason.strip()!r}")
