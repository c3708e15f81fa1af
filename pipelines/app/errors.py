"""What an operator sees when a command cannot do its work: one line saying what failed, not a traceback.

The errors below are the operator's to fix (an unreachable warehouse, a wrong setting, an accounts file with
mistakes, a credential that cannot be read); anything else is a bug and keeps its traceback. `coinbook --debug …`
(or COINBOOK_DEBUG=1) shows the traceback of these too. One place for every command: the top-level group's
`invoke`, which runs every callback and subcommand.
"""

from __future__ import annotations

from typing import Any

import click
import psycopg
from rich.markup import escape
from typer.core import TyperGroup

from pipelines.app.console import err_console
from pipelines.services.accounts import AccountsFileError, RegistrationRefused
from pipelines.settings import SettingsError, get_settings, resolve_database_url
from pipelines.sources.exchanges.client import CredentialError
from warehouse.cluster import WarehouseError
from warehouse.connection import mask_url
from warehouse.migrate import MigrationError

OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError, WarehouseError, MigrationError, SettingsError, CredentialError,
    AccountsFileError, RegistrationRefused,
)

# Their message is the whole story (the file's problems, the refused changes, the variable): no hint of a traceback.
COMPLETE_ERRORS = (SettingsError, AccountsFileError, RegistrationRefused)


def first_line(text: str) -> str:
    """The driver's one-line reason: libpq adds hints and a list of every address it tried on further lines."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def describe(exc: Exception, database_url: str | None, *, private: bool = False) -> str:
    """The message for an operator error; a database error says which warehouse (its password masked) and, for
    the private cluster, how to start it."""
    if isinstance(exc, psycopg.OperationalError):
        where = f" at {mask_url(database_url)}" if database_url else ""
        hint = " (`coinbook warehouse up` starts the private cluster)" if private else ""
        return f"cannot use the warehouse{where}: {first_line(str(exc)) or type(exc).__name__}{hint}"
    return str(exc)


def _settings_value(read: Any, default: Any) -> Any:
    try:
        return read(get_settings())
    except SettingsError:
        return default


class OperatorErrors(TyperGroup):
    """The top-level command group: an operator error ends the command with its message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OPERATOR_ERRORS as exc:
            if ctx.params.get("debug") or _settings_value(lambda s: s.debug, False):
                raise
            url = _settings_value(resolve_database_url, None)
            private = _settings_value(lambda s: not s.database_url, False)
            hint = "" if isinstance(exc, COMPLETE_ERRORS) else " [dim](--debug: the traceback)[/]"
            err_console.print(f"[red]error:[/] {escape(describe(exc, url, private=private))}{hint}", soft_wrap=True)
            ctx.exit(1)
