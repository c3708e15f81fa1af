"""`coinbook report tax`: Form 8949 from the lot marts. `coinbook report compliance`: the quarterly compliance pack.
`coinbook report positions|disposals`: as of a valid time, as known at a knowledge time
(pipelines/services/reports/asof.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from pipelines.app.console import console
from pipelines.services.compliance import kyc_flag
from pipelines.services.reports.compliance import write_compliance_pack
from pipelines.services.reports.form8949 import exclusion_note
from pipelines.services.reports.tax import write_tax_report
from pipelines.settings import get_settings, resolve_database_url
from warehouse.connection import Warehouse

app = typer.Typer(help="Reports from the marts (tax, compliance; positions and disposals as of a date, as known at a "
                  "time).", no_args_is_help=True)


@app.command("tax")
def tax(
    tenant: str = typer.Option(..., help="Tenant id (ops.tenants)."),
    year: int = typer.Option(..., help="Tax year, in the tenant's time zone (see --timezone)."),
    out: Path = typer.Option(Path("reports"), help="Directory to write into (created if missing)."),
    timezone: str | None = typer.Option(
        None, help="IANA time zone of the tax year and the dates on the form (e.g. America/New_York). Default: "
        "the tenant's ops.tenants.tax_timezone, else COINBOOK_TAX_TIMEZONE, else UTC."),
) -> None:
    """Form 8949 for a tenant and tax year (CSV + PDF, one line per lot slice, by the tenant's lot method). The
    disposals whose cost basis is unknown are listed on it apart, after Part II, and left out of its totals;
    missing_cost_basis_*.csv says what to fix."""
    settings = get_settings()
    try:
        report = write_tax_report(Warehouse(resolve_database_url(settings)), tenant, year, out, timezone=timezone,
                                  default_timezone=settings.tax_timezone)
    except LookupError as exc:
        console.print(f"[red]report failed[/]: {exc}")
        raise typer.Exit(2) from None
    # soft_wrap: one line per fact, whatever the width (the terminal folds it; grep and logs keep it whole)
    say = partial(console.print, soft_wrap=True, highlight=False)
    if report.kyc_flag:
        say(f"[red]{escape(report.kyc_flag)}[/]")
    say(f"Form 8949 {year} for {tenant} (tax year and dates in {report.timezone}): {report.lines} lines, proceeds "
        f"{report.proceeds:,.2f}, cost {report.cost:,.2f}, short-term {report.short_term:,.2f}, "
        f"long-term {report.long_term:,.2f}")
    say(f"  {report.csv_path}\n  {report.pdf_path}")
    if report.unknown.lines:
        say(f"  [yellow]{exclusion_note(report.unknown)}[/]")  # the sentence under every totals line of the form
        say(f"  fix: {report.missing_path} says why for each (enter the cost in ops.cost_basis, or import the "
            "purchase history), then `coinbook run` and this report again")
    if report.removed:
        say(f"  {report.removed} slice{'s' if report.removed != 1 else ''} of unexplained withdrawals: not sales, so "
            "on no line (classify them: marts.transfer_review)")
    if report.income_events:
        say(f"  income (ordinary, not on Form 8949): {report.income_events} receipts, {report.income_usd:,.2f} USD "
            "— marts.income")


@app.command("compliance")
def compliance(
    tenant: str = typer.Option(..., help="Tenant id (ops.tenants)."),
    quarter: str = typer.Option(..., help="Quarter as YYYYQn (e.g. 2026Q1), in the tenant's time zone."),
    out: Path = typer.Option(Path("reports"), help="Directory to write into (created if missing)."),
    timezone: str | None = typer.Option(
        None, help="IANA time zone of the quarter's bounds and of every time printed. Default: the tenant's "
        "ops.tenants.tax_timezone, else COINBOOK_TAX_TIMEZONE, else UTC."),
    as_of: str | None = typer.Option(None, "--as-of", help="End the quarter's window here (the quarter to date): "
                                     "YYYY-MM-DD (end of that day) or an ISO timestamp, inside the quarter."),
    known_at: str | None = typer.Option(None, "--known-at", help="The pack as known then: only the records "
                                        "ingested and the KYC entries, screening decisions and thresholds "
                                        "recorded by then; YYYY-MM-DD (end of day, tenant's zone) or an ISO "
                                        "timestamp. Default: now."),
) -> None:
    """The quarterly compliance pack: a PDF for the auditor and the CSVs behind it (holdings at quarter end,
    flows, realized gains, income, large and unhosted transfers, screening, reconciliation breaks, data quality),
    their manifest (rows and sha256 of each, its own sha256 printed in the PDF), the audit chain's verification and
    the quarter-end checkpoint. With --known-at, as the firm knew it then (re-perform a past pack)."""
    from pipelines.domain.asof import parse_instant
    from pipelines.services.reports.tax import tenant_zone

    settings = get_settings()
    wh = Warehouse(resolve_database_url(settings))
    try:
        with wh.connect() as conn:
            _name, zone = tenant_zone(conn, tenant, timezone, settings.tax_timezone)
        pack = write_compliance_pack(wh, tenant, quarter, out, timezone=timezone,
                                     default_timezone=settings.tax_timezone,
                                     as_of=parse_instant(as_of, zone) if as_of else None,
                                     known_at=parse_instant(known_at, zone) if known_at else None)
    except (LookupError, ValueError) as exc:
        console.print(f"[red]report failed[/]: {exc}")
        raise typer.Exit(2) from None
    say = partial(console.print, soft_wrap=True, highlight=False)
    data = pack.data
    say(f"Compliance pack {data.quarter} for {tenant} (quarter in {data.zone}: {data.start.isoformat()} to "
        f"{data.end.isoformat()}): {pack.pages} pages"
        + (f", as known at {data.known_at.astimezone(ZoneInfo(data.zone)).isoformat()}" if data.known_at else ""))
    for entry in data.manifest:
        section = data.section(entry.section)
        say(f"  {entry.file:<26} {entry.rows:>6} rows" + ("" if section.available else "  (not available)"))
    say(f"  audit chain: {'intact' if data.audit.intact else 'BROKEN'}; quarter-end checkpoint: "
        + (f"{data.audit.checkpoint.day} #{data.audit.checkpoint.seq} {data.audit.checkpoint.hash_hex}"
           if data.audit.checkpoint else "none"))
    if data.kyc.flag:
        say(f"  [yellow]{data.kyc.flag}[/]")
    say(f"  {pack.pdf_path}\n  {pack.manifest_path} sha256 {pack.manifest_sha256}")


def _as_of_report(kind: str, tenant: str, as_of: str, known_at: str | None, out: Path) -> None:
    """Shared by `report positions` and `report disposals`: the tenant's zone, the two instants, the file."""
    from pipelines.domain.asof import parse_instant
    from pipelines.services.reports.asof import write_report
    from pipelines.services.reports.tax import tenant_zone

    settings = get_settings()
    say = partial(console.print, soft_wrap=True, highlight=False)
    try:
        with Warehouse(resolve_database_url(settings)).connect() as conn:
            _name, zone = tenant_zone(conn, tenant, default_timezone=settings.tax_timezone)
            valid = parse_instant(as_of, zone)
            known = parse_instant(known_at, zone) if known_at else datetime.now(UTC)
            report = write_report(conn, kind, tenant, valid, known, zone, out)
    except (LookupError, ValueError) as exc:
        console.print(f"[red]report failed[/]: {exc}")
        raise typer.Exit(2) from None
    say(f"{kind} of {tenant} as of {report.as_of.astimezone(zone).isoformat()} known at "
        f"{report.known_at.astimezone(zone).isoformat()} ({report.zone}; a date is the end of that day): "
        f"{report.rendered.rows} rows, rows_sha256 {report.rendered.rows_sha256}")
    # the flag goes to the operator, not into the file: a re-performed report must stay byte-identical
    flag = kyc_flag(Warehouse(resolve_database_url(settings)), tenant)
    if flag:
        say(f"  [red]{escape(flag)}[/]")
    say(f"  {report.path}")  # the last line: the file


AS_OF_HELP = "Valid time: YYYY-MM-DD (the end of that day in the tenant's tax time zone) or an ISO timestamp."
KNOWN_AT_HELP = ("Knowledge time: what had been ingested and recorded by then; YYYY-MM-DD (end of day, tenant's zone) "
                 "or an ISO timestamp. Default: now.")


@app.command("positions")
def positions(
    tenant: str = typer.Option(..., help="Tenant id (ops.tenants)."),
    as_of: str = typer.Option(..., "--as-of", help=AS_OF_HELP),
    known_at: str | None = typer.Option(None, "--known-at", help=KNOWN_AT_HELP),
    out: Path = typer.Option(Path("reports"), help="Directory to write into (created if missing)."),
) -> None:
    """Ledger holdings per account and asset as of a date, as known at a time (CSV; its header names both and the
    sha256 of its rows, so a re-performed report compares byte for byte)."""
    _as_of_report("positions", tenant, as_of, known_at, out)


@app.command("disposals")
def disposals(
    tenant: str = typer.Option(..., help="Tenant id (ops.tenants)."),
    as_of: str = typer.Option(..., "--as-of", help=AS_OF_HELP),
    known_at: str | None = typer.Option(None, "--known-at", help=KNOWN_AT_HELP),
    out: Path = typer.Option(Path("reports"), help="Directory to write into (created if missing)."),
) -> None:
    """Every lot slice disposed of up to a date, as known at a time: the lot engine over the ledger and the cost
    basis, method and selections as recorded then (CSV, marts.disposals' columns)."""
    _as_of_report("disposals", tenant, as_of, known_at, out)
