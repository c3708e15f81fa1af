"""`coinbook compliance kyc …` and `coinbook compliance thresholds …` (issue 16 §2)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.app.console import console, err_console
from pipelines.app.officer import AS_HELP, as_officer
from pipelines.app.ready import ensure_warehouse
from pipelines.services import compliance
from pipelines.settings import get_settings
from warehouse.connection import Warehouse

kyc_app = typer.Typer(help="The KYC register: clients, beneficial owners, their reviews (document references only).",
                      no_args_is_help=True)
thresholds_app = typer.Typer(help="Large and unhosted-wallet transfer thresholds per tenant.", no_args_is_help=True)
DAY = ["%Y-%m-%d"]


def register(app: typer.Typer) -> None:
    """Adds the KYC register and transfer-threshold commands to `coinbook compliance`."""
    app.add_typer(kyc_app, name="kyc")
    app.add_typer(thresholds_app, name="thresholds")


def _wh() -> Warehouse:
    return Warehouse(ensure_warehouse(get_settings()))


def _amount(text: str | None, option: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        err_console.print(f"{option}: not an amount: {escape(text)}")
        raise typer.Exit(2) from None


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _refused(exc: Exception) -> typer.Exit:
    err_console.print(f"[red]refused[/]: {escape(str(exc))}")
    return typer.Exit(2)


@kyc_app.command("add-subject")
def add_subject(
    subject: str = typer.Argument(..., help="An id for the subject, e.g. acme-client or jdoe (lower case)."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant id (ops.tenants)."),
    kind: str = typer.Option("client", "--kind", help="client | beneficial_owner."),
    name: str = typer.Option(..., "--name", help="Legal name of the client or the owner."),
    ownership: str | None = typer.Option(None, "--ownership", help="A beneficial owner's share, in percent."),
    country: str | None = typer.Option(None, "--country", help="ISO 3166-1 alpha-2 (e.g. DE)."),
    note: str | None = typer.Option(None, "--note"),
    as_login: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Record a client or a beneficial owner in the register (again with the same id: a correction; the earlier
    entry stays in the history and the audit chain), as a compliance officer (--as)."""
    wh = _wh()
    by = as_officer(wh, as_login)
    try:
        compliance.add_subject(wh, tenant, subject, kind, name, _amount(ownership, "--ownership"), country, note,
                               by=by)
    except (ValueError, LookupError) as exc:
        raise _refused(exc) from None
    console.print(f"recorded {kind} {escape(subject)} of {escape(tenant)}: {escape(name)}", highlight=False)


@kyc_app.command("review")
def review(
    subject: str = typer.Argument(..., help="The subject reviewed (see `kyc list`)."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    status: str = typer.Option(..., "--status", help="verified | pending | rejected | expired."),
    risk: str | None = typer.Option(None, "--risk", help="low | medium | high (needed for verified)."),
    verified_at: datetime | None = typer.Option(None, "--verified-at", formats=DAY,
                                                help="When the verification was completed (needed for verified; "
                                                     "default today for verified)."),
    next_review: datetime | None = typer.Option(None, "--next-review", formats=DAY,
                                                help="When it must be reviewed again (needed for verified)."),
    doc: list[str] = typer.Option([], "--doc", help="A document reference (e.g. DMS:4711); repeat for more. The "
                                                     "documents themselves are not stored."),
    note: str | None = typer.Option(None, "--note"),
    as_login: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Record a review of a subject, as a compliance officer (--as); it supersedes the subject's earlier reviews
    (all kept, chained)."""
    day = _day(verified_at) or (date.today() if status == "verified" else None)
    wh = _wh()
    by = as_officer(wh, as_login)
    try:
        review_id = compliance.review(wh, tenant, subject, status, day, risk, _day(next_review), doc, note, by=by)
    except (ValueError, LookupError) as exc:
        raise _refused(exc) from None
    console.print(f"review #{review_id} of {escape(subject)} ({escape(tenant)}): {status}"
                  + (f", risk {risk}, next review {_day(next_review)}" if status == "verified" else ""),
                  highlight=False)


@kyc_app.command("list")
def list_register(tenant: str | None = typer.Option(None, "--tenant", help="One tenant (default: every one)."),
                  history: str | None = typer.Option(None, "--history", help="Every review of this subject "
                                                                             "(with --tenant).")) -> None:
    """The register now: who, kind, status, verified, risk, next review due, overdue, documents; then each
    tenant's KYC standing (marts.kyc_status)."""
    wh = _wh()
    if history:
        if not tenant:
            raise _refused(ValueError("--history needs --tenant"))
        table = Table("recorded", "status", "verified", "risk", "next review", "documents", "by", "note")
        for at, status, verified, risk, due, docs, by, note in compliance.history(wh, tenant, history):
            table.add_row(f"{at:%Y-%m-%d %H:%M}", status, str(verified or ""), risk or "", str(due or ""),
                          ", ".join(docs), by, note or "")
        console.print(table)
        return
    table = Table("tenant", "subject", "kind", "name", "owns %", "status", "verified", "risk", "next review",
                  "overdue", "documents")
    for s in compliance.subjects(wh, tenant):
        table.add_row(s.tenant_id, s.subject_id, s.kind, s.name, f"{s.ownership_pct:g}" if s.ownership_pct else "",
                      s.status or "none", str(s.verified_at or ""), s.risk_rating or "", str(s.next_review_due or ""),
                      "[red]OVERDUE[/]" if s.overdue else "", ", ".join(s.documents))
    console.print(table)
    try:
        statuses = compliance.kyc_statuses(wh, tenant)
    except LookupError as exc:
        console.print(f"[dim]{escape(str(exc))}[/]")
        return
    for s in statuses:
        console.print(f"{s.tenant_id}: KYC valid" if s.kyc_valid else
                      f"[red]{s.tenant_id}: no valid KYC[/] ({s.reason}: {escape(s.reason_detail or '')})",
                      highlight=False)


@thresholds_app.command("set")
def set_thresholds(tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
                   currency: str | None = typer.Option(None, "--currency", help="EUR | USD."),
                   large: str | None = typer.Option(None, "--large", help="Large transfer: more than this."),
                   unhosted: str | None = typer.Option(None, "--unhosted",
                                                       help="Unhosted-wallet transfer: more than this."),
                   as_login: str | None = typer.Option(None, "--as", help=AS_HELP)) -> None:
    """Set a tenant's thresholds (what is not given stays), as a compliance officer (--as); the marts apply them
    at once."""
    wh = _wh()
    by = as_officer(wh, as_login)
    try:
        now = compliance.set_thresholds(wh, tenant, currency, _amount(large, "--large"),
                                        _amount(unhosted, "--unhosted"), by=by)
    except (ValueError, LookupError) as exc:
        raise _refused(exc) from None
    console.print(f"{tenant}: large transfers over {now.large:,} {now.currency}, unhosted-wallet transfers over "
                  f"{now.unhosted:,} {now.currency}", highlight=False)


@thresholds_app.command("show")
def show_thresholds(tenant: str | None = typer.Option(None, "--tenant", help="One tenant (default: every one).")
                    ) -> None:
    """Each tenant's thresholds now (defaults: 10,000 and 1,000 in the base currency when EUR or USD, else EUR)."""
    try:
        rows = compliance.thresholds(_wh(), tenant)
    except LookupError as exc:
        raise _refused(exc) from None
    table = Table("tenant", "currency", "large over", "unhosted over", "set", "by")
    for t in rows:
        table.add_row(t.tenant_id, t.currency, f"{t.large:,}", f"{t.unhosted:,}",
                      f"{t.set_at:%Y-%m-%d %H:%M}" if t.set_at else "default", t.recorded_by or "")
    console.print(table)
