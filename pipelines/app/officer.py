"""The person behind a compliance change: `--as LOGIN` (else COINBOOK_LOGIN), a compliance officer's own login
(`coinbook users add NAME --role compliance`), with its password from COINBOOK_LOGIN_PASSWORD or prompted. The
change is written through that login, so the row and its audit-chain link name the person (migration V030)."""

from __future__ import annotations

import typer
from rich.markup import escape

from pipelines.app.console import err_console
from pipelines.services.users import UserError, acting_as
from pipelines.settings import get_settings
from warehouse.connection import Warehouse

AS_HELP = ("The compliance officer's own login making the change (default: $COINBOOK_LOGIN); its password from "
           "$COINBOOK_LOGIN_PASSWORD, else prompted.")


def login_and_password(login: str | None) -> tuple[str, str] | None:
    """The person's login (`--as`, else COINBOOK_LOGIN) and its password (COINBOOK_LOGIN_PASSWORD, else prompted);
    None when no login is given. Shared by every command a person signs with their own login."""
    settings = get_settings()
    name = login or settings.login
    if not name:
        return None
    if settings.login_password is not None:
        return name, settings.login_password.get_secret_value()
    return name, typer.prompt(f"password of {name}", hide_input=True, err=True)


def as_officer(wh: Warehouse, login: str | None) -> Warehouse:
    """The warehouse as that officer; exit 2 with the reason when there is none, the login is not a compliance
    officer, or the password does not open it."""
    person = login_and_password(login)
    if person is None:
        err_console.print("[red]refused[/]: a compliance change is made by a person: --as LOGIN (or COINBOOK_LOGIN), "
                          "a login of role compliance (`coinbook users add NAME --role compliance --tenant T`)")
        raise typer.Exit(2)
    name, password = person
    try:
        return acting_as(wh, name, password)
    except UserError as exc:
        err_console.print(f"[red]refused[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
