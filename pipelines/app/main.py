"""`coinbook`: the command line, one module per command group over the services (printing never writes)."""

from __future__ import annotations

import faulthandler
import signal
import sys

import typer

from pipelines.app import (
    accounts,
    audit,
    compliance,
    dashboards,
    imports,
    metrics,
    pipeline,
    prices,
    report,
    sandbox,
    trading,
    users,
    warehouse,
)
from pipelines.app.errors import OperatorErrors

app = typer.Typer(
    cls=OperatorErrors,  # an operator's error (no warehouse, a wrong setting or file) is one line, not a traceback
    help="Coinbook: crypto-asset portfolio data platform. Ingests exchange accounts, wallets, DeFi positions and "
    "CSV exports, gates data quality, models a ledger, positions and reconciliation in PostgreSQL. "
    "Without API keys, the built-in sandbox speaks the REST dialects of Binance, Coinbase, Kraken, Bitfinex and "
    "HTX (and Esplora, an Etherscan-style explorer and EVM JSON-RPC for the wallets).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback's locals may hold a key or a database password
)
app.add_typer(warehouse.app, name="warehouse")
app.add_typer(accounts.app, name="accounts")
app.add_typer(report.app, name="report")
app.add_typer(prices.app, name="prices")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
app.add_typer(compliance.app, name="compliance")
app.add_typer(trading.app, name="trading")
app.add_typer(metrics.app, name="metrics")
app.command()(pipeline.prepare)
app.command()(pipeline.run)
app.command()(pipeline.summary)
app.command()(pipeline.dev)
app.command("import")(imports.import_csv)
app.command()(sandbox.sandbox)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show the full traceback when a command fails "
                                     "(also COINBOOK_DEBUG=1).")) -> None:
    # `debug` is read by OperatorErrors (pipelines/app/errors.py), around every command.
    # `kill -USR1 <pid>` prints every thread's stack to the terminal: a run that seems stuck tells where it is
    # (the test of `coinbook run` uses it before it gives up on a run).
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


if __name__ == "__main__":
    app()
