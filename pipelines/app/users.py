"""`coinbook users …`: people's own logins to the warehouse (a manager, an accountant, an auditor), each seeing
only its tenants' rows (pipelines/services/users.py; what each role may read and write: migration V016)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.app.console import console, err_console
from pipelines.app.ready import ensure_warehouse
from pipelines.services.users import ROLES, UserError, add_user, list_users, remove_user, role_of, rotate_password
from pipelines.settings import get_settings, resolve_admin_url
from warehouse.connection import Warehouse

app = typer.Typer(help="Logins of people to the warehouse: managers, accountants, auditors (row-level security "
                       "by tenant).", no_args_is_help=True)

T = TypeVar("T")


def _warehouse() -> Warehouse:
    """Logins are administration: the private cluster's superuser (COINBOOK_DATABASE_URL's user elsewhere)."""
    settings = get_settings()
    ensure_warehouse(settings)
    return Warehouse(resolve_admin_url(settings))


def _refused(call: Callable[[], T]) -> T:
    try:
        return call()
    except UserError as exc:
        err_console.print(f"refused: {escape(str(exc))}")
        raise typer.Exit(1) from None


def _password(generate: bool) -> str | None:
    """None (generate one) or the password typed twice."""
    if generate:
        return None
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


def _show_once(name: str, password: str) -> None:
    console.print(f"password of {escape(name)} (shown once, keep it somewhere safe): {escape(password)}",
                  highlight=False)


@app.command("add")
def add(name: str = typer.Argument(..., help="The login, e.g. jane (lower case)."),
        role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
        tenant: list[str] = typer.Option(..., "--tenant", help="A tenant this login sees (repeat for several)."),
        generate: bool = typer.Option(False, "--generate", help="Generate the password and print it once, "
                                      "instead of prompting for one.")) -> None:
    """Create a login for a person: a PostgreSQL role (SCRAM password) in the group of its role, seeing only the
    rows of its tenants."""
    wh = _warehouse()
    password = _refused(lambda: add_user(wh, name, role, tenant, _password(generate)))
    console.print(f"added {escape(name)}: {role} of {', '.join(sorted(set(tenant)))}")
    if generate:
        _show_once(name, password)


@app.command("list")
def list_() -> None:
    """Every login with its role and its tenants in this warehouse."""
    table = Table("login", "role", "tenants")
    for login in list_users(_warehouse()):
        table.add_row(login.name, role_of(login), ", ".join(login.tenants) or "—")
    console.print(table)


@app.command("remove")
def remove(name: str = typer.Argument(..., help="The login to remove.")) -> None:
    """Drop the login and its tenants."""
    wh = _warehouse()
    _refused(lambda: remove_user(wh, name))
    console.print(f"removed {escape(name)}")


@app.command("rotate-password")
def rotate(name: str = typer.Argument(..., help="The login."),
           generate: bool = typer.Option(False, "--generate", help="Generate the new password and print it once.")
           ) -> None:
    """Give a login a new password (prompted, or generated and printed once)."""
    wh = _warehouse()
    password = _refused(lambda: rotate_password(wh, name, _password(generate)))
    console.print(f"new password set for {escape(name)}")
    if generate:
        _show_once(name, password)
