"""`coinbook compliance load-sanctions …` and `coinbook compliance screening …` (issue 16 §2)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.app.console import console, err_console
from pipelines.app.officer import AS_HELP, as_officer
from pipelines.app.ready import ensure_warehouse
from pipelines.settings import get_settings
from warehouse.connection import Warehouse

screening = typer.Typer(help="Sanctions screening: the hits, the lists loaded, a reviewer's decision.",
                        no_args_is_help=True)


def _warehouse() -> Warehouse:
    return Warehouse(ensure_warehouse(get_settings()))


def _fail(message: str) -> None:
    err_console.print(escape(message), highlight=False)
    raise typer.Exit(1)


def load_sanctions(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="sdn.xml, sdn.csv or a plain CSV of addresses."),
    list_format: str | None = typer.Option(None, "--format", help="sdn-xml | sdn-csv | csv (default: detected)."),
    list_name: str | None = typer.Option(None, "--list-name",
                                         help="Default: 'OFAC SDN' for the SDN formats, the file's name for a CSV."),
    version: str | None = typer.Option(None, "--version",
                                       help="For files without a publish date (sdn.csv, a CSV); default: its hash."),
) -> None:
    """Load a sanctions list as a new version of it (the same file again changes nothing). The next run screens
    every counterparty against the latest version of each list."""
    from pipelines.services.screening import ScreeningError, load_sanctions_file

    try:
        loaded = load_sanctions_file(_warehouse(), file, list_format, list_name, version)
    except ScreeningError as e:
        _fail(str(e))
        return
    state = "loaded" if loaded.new else "already loaded (nothing changed)"
    console.print(f"{escape(loaded.list_name)} version {escape(loaded.version)}: {state} — {loaded.entry_count} "
                  f"entries, {loaded.address_count} addresses, sha256 {loaded.sha256}, by {escape(loaded.loaded_by)} "
                  f"at {loaded.loaded_at:%Y-%m-%d %H:%M:%S %Z}", highlight=False)


@screening.command("hits")
def hits(tenant: str | None = typer.Option(None, "--tenant"),
         open_only: bool = typer.Option(False, "--open", help="Only the hits nobody has decided yet.")) -> None:
    """The screening hits (marts.screening_hits as of the last run, with the decisions made since)."""
    from pipelines.services.screening import read_hits

    rows = read_hits(_warehouse(), tenant, open_only)
    if not rows:
        console.print("no screening hits" + (" open" if open_only else ""))
        return
    table = Table(title="sanctions screening hits")
    for column in ("hit_id", "tenant", "account", "when (UTC)", "dir", "amount", "address", "list", "entry",
                   "decision"):
        table.add_column(column, overflow="fold")
    for h in rows:
        decision = h["decision"] if h["decision"] == "open" else f"{h['decision']} ({h['decided_by']}: {h['reason']})"
        table.add_row(h["hit_id"], h["tenant_id"], h["account_id"], f"{h['occurred_at']:%Y-%m-%d %H:%M}",
                      h["direction"], f"{h['amount'].normalize():f} {h['asset']}", h["address"],
                      f"{h['list_name']} {h['list_version']}", f"{h['entry_name']} ({h['entry_uid']})",
                      escape(decision))
    console.print(table)


@screening.command("decide")
def decide(hit_id: str = typer.Argument(..., help="The hit's id (screening hits)."),
           decision: str = typer.Option(..., "--decision", help="true_match | false_positive"),
           reason: str = typer.Option(..., "--reason", help="Why: kept with the decision, in the audit chain."),
           tenant: str | None = typer.Option(None, "--tenant"),
           as_login: str | None = typer.Option(None, "--as", help=AS_HELP)) -> None:
    """Record a reviewer's decision on a hit, as a compliance officer (--as): appended and chained under that
    login; a later decision supersedes it (both kept)."""
    from pipelines.services.screening import ScreeningError
    from pipelines.services.screening import decide as record

    wh = _warehouse()
    by = as_officer(wh, as_login)
    try:
        made = record(wh, hit_id, decision, reason, tenant, by=by)
    except ScreeningError as e:
        _fail(str(e))
        return
    superseded = f" (supersedes {made.superseded})" if made.superseded else ""
    console.print(f"{made.tenant_id} {made.hit_id}: {made.decision}{superseded} — decision #{made.decision_id} by "
                  f"{escape(made.decided_by)} at {made.decided_at:%Y-%m-%d %H:%M:%S %Z}", highlight=False)


@screening.command("lists")
def lists() -> None:
    """Every version of every sanctions list loaded."""
    from warehouse.sanctions import list_versions

    table = Table(title="sanctions lists")
    for column in ("list", "version", "format", "entries", "addresses", "sha256", "loaded", "by"):
        table.add_column(column, overflow="fold")
    for name, version, fmt, entries, addresses, digest, at, by in list_versions(_warehouse()):
        table.add_row(name, version, fmt, str(entries), str(addresses), digest[:16] + "…",
                      f"{at:%Y-%m-%d %H:%M}", by)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Adds the screening commands to `coinbook compliance`."""
    app.command("load-sanctions")(load_sanctions)
    app.add_typer(screening, name="screening")
