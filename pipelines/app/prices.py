"""`coinbook prices load-ticks FILE`: price ticks into raw.price_ticks, exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from pipelines.app.console import console
from pipelines.app.ready import ensure_warehouse
from pipelines.settings import get_settings

app = typer.Typer(help="Market data: price ticks (raw.price_ticks).", no_args_is_help=True)


@app.command("load-ticks")
def load_ticks(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV (header row) or Parquet of ticks: "
                                "venue, symbol, observed_at (epoch ms or ISO 8601), price, size (optional), "
                                "tick_id — see pipelines/sources/prices/ticks.py."),
    source: str | None = typer.Option(None, "--source", help="Venue (ccxt id) for rows without a venue column."),
) -> None:
    """Load price ticks into raw.price_ticks: exactly once (a re-load adds nothing), bad ticks quarantined
    with the reason (ops.quarantine)."""
    from pipelines.services.prices import load_tick_file, quarantined_ticks  # pyarrow and numpy: only here

    url = ensure_warehouse(get_settings())
    started = time.perf_counter()
    try:
        result = load_tick_file(url, file, default_source=source)
    except ValueError as exc:
        console.print(f"[red]load failed[/]: {exc}")
        raise typer.Exit(2) from None
    console.print(f"{file.name}: {result.rows_in:,} ticks = {result.inserted:,} loaded + {result.duplicates:,} "
                  f"duplicates + {result.quarantined:,} quarantined ({time.perf_counter() - started:.1f} s)")
    for group in result.groups:
        console.print(f"  {group.day} {group.source:<10} {group.rows:>10,} rows  {group.inserted:>10,} new  "
                      f"({group.path})")
    if result.quarantined:
        for reason in quarantined_ticks(url):
            console.print(f"  [yellow]quarantined[/] {reason}")
