"""`coinbook`: the command line, one module per command group over the services (printing never writes)."""

from __future__ import annotations

import faulthandler
import signal
import sys

import typer

from pipelines.app import accounts, imports, pipeline, prices, report, sandbox, warehouse

app = typer.Typer(
    help="Coinbook: crypto-asset portfolio data platform. Ingests exchange accounts, gates data quality, "
    "models a ledger, positions and reconciliation in PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(warehouse.app, name="warehouse")
app.add_typer(accounts.app, name="accounts")
app.add_typer(report.app, name="report")
app.add_typer(prices.app, name="prices")
app.command()(pipeline.prepare)
app.command()(pipeline.run)
app.command()(pipeline.summary)
app.command()(pipeline.dev)
app.command("import")(imports.import_csv)
app.command()(sandbox.sandbox)


@app.callback()
def _main() -> None:
    # `kill -USR1 <pid>` prints every thread's stack to the terminal: a run that seems stuck tells where it is
    # (the test of `coinbook run` uses it before it gives up on a run).
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


if __name__ == "__main__":
    app()
