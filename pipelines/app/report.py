"""`coinbook report tax`: Form 8949 from the lot marts."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.app.console import console
from pipelines.services.reports.tax import write_tax_report
from pipelines.settings import get_settings, resolve_database_url
from warehouse.connection import Warehouse

app = typer.Typer(help="Reports from the marts (tax).", no_args_is_help=True)


@app.command("tax")
def tax(
    tenant: str = typer.Option(..., help="Tenant id (ops.tenants)."),
    year: int = typer.Option(..., help="Tax year (UTC dates)."),
    out: Path = typer.Option(Path("reports"), help="Directory to write into (created if missing)."),
) -> None:
    """Form 8949 for a tenant and tax year (CSV + PDF, one line per lot slice, by the tenant's lot method), and
    the disposals that could not go on it for want of a cost basis (missing_cost_basis_*.csv)."""
    try:
        report = write_tax_report(Warehouse(resolve_database_url(get_settings())), tenant, year, out)
    except LookupError as exc:
        console.print(f"[red]report failed[/]: {exc}")
        raise typer.Exit(2) from None
    console.print(f"Form 8949 {year} for {tenant}: {report.lines} lines, proceeds {report.proceeds:,.2f}, "
                  f"cost {report.cost:,.2f}, short-term {report.short_term:,.2f}, long-term {report.long_term:,.2f}")
    console.print(f"  {report.csv_path}\n  {report.pdf_path}")
    if report.income_events:
        console.print(f"  income (ordinary, not on Form 8949): {report.income_events} receipts, "
                      f"{report.income_usd:,.2f} USD — marts.income")
    if report.missing:
        console.print(f"  [yellow]{report.missing} disposal slices lack a cost basis and are NOT on the form[/]: "
                      f"{report.missing_path} (fix: ops.cost_basis, or import the purchase history)")
