"""`coinbook import FILE --account A`: a CSV export into raw.file_records."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from pipelines.app.console import console
from pipelines.app.ready import ensure_warehouse
from pipelines.services.imports import import_file, quarantined_lines
from pipelines.settings import get_settings
from pipelines.sources.files import FileRefused, UnknownFormat
from warehouse.connection import Warehouse


def _line(text: str) -> None:
    """One line, never wrapped; what comes from the file is escaped (it is not rich markup, nor :emoji: codes)."""
    console.print(text, soft_wrap=True, emoji=False, highlight=False)


def import_csv(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A CSV export (Binance trade history, "
                                "Coinbase transactions, Kraken ledgers, Ledger Live operations, or the generic "
                                "template: pipelines/sources/files/TEMPLATE.md)."),
    account: str = typer.Option(..., help="The account the file belongs to (ops.accounts.account_id)."),
    tenant: str | None = typer.Option(None, help="Tenant id, when the account id is not unique."),
    fmt: str | None = typer.Option(None, "--format", help="Force a format instead of detecting it."),
    timezone: str | None = typer.Option(None, help="IANA zone for naive timestamps of the generic template."),
) -> None:
    """Import a CSV export: bad rows are quarantined with the file, line and reason; re-imports add nothing. A
    file whose lines mostly fail, or another venue's export than the account's, is refused whole (exit 2).
    Run `coinbook run` (or the nightly job) afterwards to rebuild the models."""
    wh = Warehouse(ensure_warehouse(get_settings()))
    try:
        outcome = import_file(wh, file, account, tenant_id=tenant, fmt=fmt, timezone=timezone)
    except FileRefused as exc:
        _line(f"[red]import refused[/]: {escape(file.name)}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    except (UnknownFormat, LookupError, ValueError) as exc:
        _line(f"[red]import failed[/]: {escape(file.name)}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    console.print(f"{outcome.file_name} ({outcome.format}) → {outcome.tenant_id}/{outcome.account_id}: "
                  f"{outcome.rows_in} rows in = {outcome.lines_loaded} loaded ({outcome.loaded_new} new records, "
                  f"{outcome.duplicates} already present) + {outcome.quarantined} quarantined + "
                  f"{outcome.ignored} ignored")
    if outcome.quarantined:
        for reason in quarantined_lines(wh, outcome.file_sha256):
            _line(f"  [yellow]quarantined[/] {escape(reason)}")
