"""`coinbook import FILE --account A`: a CSV export into raw.file_records."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from pipelines.app.console import console
from pipelines.app.ready import ensure_warehouse
from pipelines.services.imports import ImportOutcome, import_file, quarantined_lines
from pipelines.settings import get_settings
from pipelines.sources.files import FORMATS, FileRefused, UnknownFormat
from pipelines.sources.files.dialect import ReadOptions
from warehouse.connection import Warehouse


def _line(text: str) -> None:
    """One line, never wrapped; what comes from the file is escaped (it is not rich markup, nor :emoji: codes)."""
    console.print(text, soft_wrap=True, emoji=False, highlight=False)


def report_lines(outcome: ImportOutcome) -> list[str]:
    """What an import did, per file: the format detected, rows in = loaded + quarantined + ignored, the ignored
    lines' reasons grouped, and whether the file had been imported before (then nothing changed)."""
    described = FORMATS[outcome.format][2] if outcome.format in FORMATS else outcome.format
    read_as = f"{outcome.format}; {outcome.layout}" if outcome.layout else outcome.format
    lines = [f"{escape(outcome.file_name)} ({escape(read_as)}) → {outcome.tenant_id}/{outcome.account_id}: "
             f"{outcome.rows_in} rows in = {outcome.lines_loaded} loaded ({outcome.loaded_new} new records, "
             f"{outcome.duplicates} already present) + {outcome.quarantined} quarantined + {outcome.ignored} ignored",
             f"  format detected: {outcome.format}: {escape(described)}"]
    lines += [f"  ignored {count} × {escape(reason)}" for reason, count in outcome.ignored_reasons.items()]
    if outcome.already_synced:
        lines.append(f"  {outcome.already_synced} of {outcome.records} records were already synced from the API: "
                     "kept, and not counted twice when the models are built")
    if outcome.repeated and outcome.imported_at is not None:
        lines.append(f"  already imported (import {outcome.import_id}, {outcome.imported_at:%Y-%m-%d %H:%M:%S %Z}): "
                     "nothing changed")
    return lines


def import_csv(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A CSV export (the supported exports are listed "
                                "in the README, 'Importing exports'; or the generic template: "
                                "pipelines/sources/files/TEMPLATE.md)."),
    account: str = typer.Option(..., help="The account the file belongs to (ops.accounts.account_id)."),
    tenant: str | None = typer.Option(None, help="Tenant id, when the account id is not unique."),
    fmt: str | None = typer.Option(None, "--format", help="Force a format instead of detecting it."),
    timezone: str | None = typer.Option(None, help="IANA zone for naive timestamps (the generic template, HTX's "
                                        "trade history)."),
    delimiter: str | None = typer.Option(None, help="The file's delimiter: , ; tab or | (default: each is tried "
                                         "for the header)."),
    decimal_comma: bool | None = typer.Option(None, "--decimal-comma/--decimal-point", help="Numbers use a "
                                              "decimal comma (1.234,5) or point (1,234.5); needed only when the "
                                              "file cannot tell (e.g. only '1,234')."),
    date_format: str | None = typer.Option(None, help="Order of re-formatted dates: DMY, MDY or YMD, or a "
                                           "pattern such as '%d/%m/%Y %H:%M:%S'; needed only when no date in the "
                                           "file tells (e.g. only '3/1/2024')."),
    encoding: str | None = typer.Option(None, help="The file's text encoding (utf-8, cp1252, latin-1, …); needed "
                                        "only when it is neither UTF-8/UTF-16 nor Windows-1252, which are "
                                        "recognised."),
) -> None:
    """Import a CSV export: bad rows are quarantined with the file, line and reason; re-imports add nothing. A
    file whose lines mostly fail, another venue's export than the account's, or a file whose numbers or dates can
    be read two ways, is refused whole (exit 2). Run `coinbook run` (or the nightly job) afterwards to rebuild
    the models."""
    wh = Warehouse(ensure_warehouse(get_settings()))
    try:
        reading = ReadOptions(delimiter, decimal_comma, date_format, encoding)
        outcome = import_file(wh, file, account, tenant_id=tenant, fmt=fmt, timezone=timezone, reading=reading)
    except FileRefused as exc:
        _line(f"[red]import refused[/]: {escape(file.name)}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    except (UnknownFormat, LookupError, ValueError) as exc:
        _line(f"[red]import failed[/]: {escape(file.name)}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    for line in report_lines(outcome):
        _line(line)
    if outcome.quarantined and not outcome.repeated:
        for reason in quarantined_lines(wh, outcome.file_sha256):
            _line(f"  [yellow]quarantined[/] {escape(reason)}")
