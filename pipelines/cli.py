"""`coinbook`: run the platform, manage its private warehouse and sandbox, register accounts."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.console import Console

from pipelines.settings import get_settings

app = typer.Typer(
    help="Coinbook: crypto-asset portfolio data platform. Ingests exchange accounts, gates data quality, "
    "models a ledger, positions and reconciliation in PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)
warehouse_app = typer.Typer(help="The private PostgreSQL cluster under .coinbook/ (or COINBOOK_DATABASE_URL).",
                            no_args_is_help=True)
accounts_app = typer.Typer(help="Clients, portfolios and exchange accounts (ops.accounts).", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(accounts_app, name="accounts")
report_app = typer.Typer(help="Reports from the marts (tax).", no_args_is_help=True)
app.add_typer(report_app, name="report")
prices_app = typer.Typer(help="Market data: price ticks (raw.price_ticks).", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


@app.callback()
def _main() -> None:
    # `kill -USR1 <pid>` prints every thread's stack to the terminal: a run that seems stuck tells where it is
    # (the test of `coinbook run` uses it before it gives up on a run).
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


# Bound to the real stdout now (runs redirect sys.stdout to their log); wide enough for the tables in CI logs.
console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 130)


def _cluster():
    from warehouse.cluster import LocalCluster

    settings = get_settings()
    return LocalCluster(settings.home, settings.pg_port)


@warehouse_app.command("up")
def warehouse_up() -> None:
    """Start the private cluster (initialising it on first use) and apply migrations."""
    from pipelines.bootstrap import ensure_warehouse

    url = ensure_warehouse(get_settings())
    console.print(f"warehouse up: [bold]{url}[/]")


@warehouse_app.command("down")
def warehouse_down() -> None:
    """Stop the private cluster (data is kept)."""
    _cluster().down()
    console.print("warehouse stopped")


@warehouse_app.command("status")
def warehouse_status() -> None:
    """Is the private cluster running, where, which server binaries."""
    settings = get_settings()
    if settings.database_url:
        console.print(f"external warehouse (COINBOOK_DATABASE_URL): {settings.database_url}")
        return
    console.print(str(_cluster().status()))


@warehouse_app.command("url")
def warehouse_url() -> None:
    """Print the connection URL (for psql, BI tools, dbt)."""
    settings = get_settings()
    typer.echo(settings.database_url or _cluster().url())


@warehouse_app.command("migrate")
def warehouse_migrate() -> None:
    """Apply pending migrations (re-runnable)."""
    from pipelines.settings import resolve_database_url
    from warehouse.migrate import apply_migrations

    applied = apply_migrations(resolve_database_url(get_settings()))
    console.print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")


@app.command()
def sandbox(
    port: int = typer.Option(8765, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    seed: int | None = typer.Option(None, help="Seed of the deterministic world (default: the demo world)."),
    malformed: bool = typer.Option(False, help="Mix a few malformed records into the API responses."),
) -> None:
    """Run the exchange sandbox (Binance REST dialect) in the foreground."""
    from sandbox.server import run_forever

    console.print(f"sandbox listening on http://{host}:{port} (Ctrl-C to stop)")
    from sandbox.world import DEFAULT_SEED

    run_forever(host, port, seed=DEFAULT_SEED if seed is None else seed, malformed=malformed)


@accounts_app.command("list")
def accounts_list() -> None:
    """List registered accounts (credentials are references, never shown)."""
    from rich.table import Table

    from pipelines.resources.warehouse import Warehouse
    from pipelines.settings import resolve_database_url

    table = Table("tenant", "portfolio", "account", "venue", "mode", "credential")
    for a in Warehouse(resolve_database_url(get_settings())).accounts(enabled_only=False):
        table.add_row(a.tenant_id, a.portfolio_id, a.account_id, a.venue, a.mode, a.credential_ref or "—")
    console.print(table)


@accounts_app.command("load")
def accounts_load(
    path: Path = typer.Argument(..., exists=True, help="YAML file of tenants/portfolios/accounts."),
) -> None:
    """Register the accounts of a YAML file (see accounts.example.yaml)."""
    from pipelines.accounts import register_accounts, specs_from_yaml
    from pipelines.bootstrap import ensure_warehouse
    from pipelines.resources.warehouse import Warehouse

    specs = specs_from_yaml(path)
    new = register_accounts(Warehouse(ensure_warehouse(get_settings())), specs)
    console.print(f"{len(specs)} accounts registered ({new} new)")


@accounts_app.command("add")
def accounts_add(
    tenant: str = typer.Option(..., help="Tenant (client) id, e.g. 'acme'."),
    account: str = typer.Option(..., help="Account id, unique within the tenant, e.g. 'acme-kraken'."),
    venue: str = typer.Option(..., help="ccxt exchange id: binance, coinbase, kraken, bitfinex, htx, ..."),
    portfolio: str = typer.Option("main", help="Portfolio id within the tenant."),
    name: str | None = typer.Option(None, help="Display name (default: the account id)."),
    mode: str = typer.Option("live", help="'live' (the real venue) or 'sandbox' (the local sandbox)."),
    api_key_stdin: bool = typer.Option(False, "--api-key-stdin",
                                       help="Read 'API_KEY SECRET [PASSWORD]' from standard input (for scripts)."),
    history_start: str | None = typer.Option(None, help="ISO date where the first sync's back-fill begins."),
) -> None:
    """Register an account and store its API key encrypted (AES-256-GCM; the master key stays outside the
    warehouse: COINBOOK_MASTER_KEY or .coinbook/master.key). The secret is prompted for, never echoed."""
    from datetime import datetime

    from pipelines.accounts import AccountSpec, register_accounts
    from pipelines.bootstrap import ensure_warehouse
    from pipelines.credentials import load_master_keys, store_credential
    from pipelines.resources.warehouse import Warehouse
    from pipelines.sources.exchanges.client import Credentials

    if api_key_stdin:
        parts = sys.stdin.read().split()
        if len(parts) < 2:
            raise typer.BadParameter("standard input must hold 'API_KEY SECRET [PASSWORD]'")
        credentials = Credentials(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    else:
        credentials = Credentials(typer.prompt("API key"), typer.prompt("API secret", hide_input=True),
                                  typer.prompt("passphrase (empty if none)", default="", hide_input=True,
                                               show_default=False) or None)
    settings = get_settings()
    wh = Warehouse(ensure_warehouse(settings))
    key = load_master_keys(settings.home, create=True)[0]
    spec = AccountSpec(tenant, tenant, portfolio, portfolio, account, venue, name or account, mode,
                       f"db:{account}", datetime.fromisoformat(history_start) if history_start else None)
    register_accounts(wh, [spec])  # the tenant row must exist before its credential
    with wh.connect() as conn, conn.transaction():
        store_credential(conn, tenant_id=tenant, credential_id=account, venue=venue, credentials=credentials,
                         key=key)
    console.print(f"account {tenant}/{account} on {venue} registered; key {credentials.api_key[:4]}… stored "
                  f"encrypted (master key {key.key_id})")


@accounts_app.command("add-wallet")
def accounts_add_wallet(
    tenant: str = typer.Option(..., help="Tenant (client) id."),
    account: str = typer.Option(..., help="Account id, unique within the tenant, e.g. 'acme-ledger-btc'."),
    chain: str = typer.Option(..., help="bitcoin, or an EVM chain: ethereum, arbitrum, optimism, base, polygon."),
    xpub: str | None = typer.Option(None, help="Bitcoin: the account's xpub/ypub/zpub (watch-only)."),
    script_type: str | None = typer.Option(None, help="Bitcoin: p2pkh | p2sh-p2wpkh | p2wpkh, when the key's "
                                           "version does not say it (Ledger Live exports every account as xpub)."),
    address: list[str] = typer.Option([], help="A plain address (repeatable for Bitcoin; one for EVM)."),
    defi: str | None = typer.Option(None, help="EVM: register the address's DeFi positions as a 'defi' account "
                                    "too, e.g. 'aave-v3,uniswap-v2,lido'."),
    portfolio: str = typer.Option("main", help="Portfolio id within the tenant."),
    name: str | None = typer.Option(None, help="Display name (default: the account id)."),
) -> None:
    """Register a watch-only wallet (no key or seed is ever asked for). The key or address is checked now."""
    from pipelines.accounts import AccountSpec, register_accounts
    from pipelines.bootstrap import ensure_warehouse
    from pipelines.resources.warehouse import Warehouse
    from pipelines.sources.chains.abi import checksum_address
    from pipelines.sources.chains.bitcoin import BtcWalletSpec
    from pipelines.sources.chains.evm import CHAIN_IDS
    from pipelines.sources.chains.hd import InvalidKey

    try:
        if chain == "bitcoin":
            settings_: dict = {k: v for k, v in {"xpub": xpub, "script_type": script_type,
                                                 "addresses": list(address) or None}.items() if v}
            BtcWalletSpec.from_settings(settings_)
        elif chain in CHAIN_IDS:
            if len(address) != 1:
                raise ValueError("an EVM wallet is one --address 0x…")
            settings_ = {"address": checksum_address(address[0])}
        else:
            raise ValueError(f"unknown chain {chain!r}: bitcoin, {', '.join(CHAIN_IDS)}")
    except (InvalidKey, ValueError) as exc:
        console.print(f"[red]not registered[/]: {exc}")
        raise typer.Exit(2) from None
    specs = [AccountSpec(tenant, tenant, portfolio, portfolio, account, chain, name or account, "live", None,
                         settings=settings_, kind="wallet")]
    if defi and chain != "bitcoin":
        specs.append(AccountSpec(tenant, tenant, portfolio, portfolio, f"{account}-defi", chain,
                                 f"{name or account} — DeFi", "live", None,
                                 settings={**settings_, "protocols": [p.strip() for p in defi.split(",")]},
                                 kind="defi"))
    register_accounts(Warehouse(ensure_warehouse(get_settings())), specs)
    console.print(", ".join(f"{s.kind} {tenant}/{s.account_id} on {chain}" for s in specs) + " registered")


@accounts_app.command("rotate-key")
def accounts_rotate_key() -> None:
    """Re-encrypt every stored credential with the newest master key (COINBOOK_MASTER_KEY='new,old')."""
    from pipelines.bootstrap import ensure_warehouse
    from pipelines.credentials import load_master_keys, rotate_master_key
    from pipelines.resources.warehouse import Warehouse

    settings = get_settings()
    keys = load_master_keys(settings.home)
    with Warehouse(ensure_warehouse(settings)).connect() as conn, conn.transaction():
        changed = rotate_master_key(conn, keys)
    console.print(f"{changed} credential(s) re-encrypted with master key {keys[0].key_id}")


@app.command()
def prepare() -> None:
    """Set up the warehouse (start + migrate) and build the dbt manifest that dagster-dbt needs."""
    from pipelines.bootstrap import dagster_home, ensure_dbt_manifest, ensure_warehouse

    settings = get_settings()
    url = ensure_warehouse(settings)
    ensure_dbt_manifest(settings, url)
    dagster_home(settings, url)
    console.print(f"ready: warehouse {url}")


@app.command()
def run(
    sandbox_accounts: bool = typer.Option(True, "--sandbox/--no-sandbox",
                                          help="Register and sync the sandbox's demo accounts."),
    malformed: bool = typer.Option(True, help="Let the sandbox emit a few malformed records (shows the gate)."),
) -> None:
    """Run the whole pipeline once: sync every account, gate, model, and print positions and reconciliation."""
    started = time.monotonic()
    settings = get_settings()
    from pipelines.bootstrap import dagster_home, ensure_dbt_manifest, ensure_warehouse, sandbox_is_up

    with console.status("starting the warehouse"):
        url = ensure_warehouse(settings)
        ensure_dbt_manifest(settings, url)
        dagster_home(settings, url)
    console.print(f"[dim]warehouse[/] {url}")

    server = None
    if sandbox_accounts and not sandbox_is_up(settings.sandbox_url):
        from sandbox.server import SandboxServer

        target = urlsplit(settings.sandbox_url)
        server = SandboxServer(host=target.hostname or "127.0.0.1", port=target.port or 8765, malformed=malformed)
        server.__enter__()
    try:
        _run_pipeline(settings, url, sandbox_accounts)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    console.print(f"\n[bold]done in {time.monotonic() - started:.1f} s[/]")


def _run_pipeline(settings, url: str, sandbox_accounts: bool) -> None:
    import dagster as dg

    from pipelines.accounts import register_accounts, specs_from_sandbox, specs_from_yaml
    from pipelines.definitions import VENUES, build_definitions
    from pipelines.resources.warehouse import Warehouse
    from pipelines.runner import RunOutcome, run_pipeline
    from pipelines.summary import read_summary, render_summary

    wh = Warehouse(url)
    specs = specs_from_sandbox(settings.sandbox_url) if sandbox_accounts else []
    if settings.accounts_file:
        specs += specs_from_yaml(settings.accounts_file)
    if specs:
        register_accounts(wh, specs)

    def report(outcome: RunOutcome) -> None:
        mark = "[green]ok[/]" if outcome.success else "[red]FAILED[/]"
        what = outcome.partition or ("tickers and candles" if outcome.job in ("market_data", "tickers_refresh")
                                     else "quality gate, dbt models")
        console.print(f"  {mark} {outcome.job:<24} {what:<32} +{outcome.inserted} rows, "
                      f"{outcome.api_calls} API calls, {outcome.seconds:.1f} s")
        for failure in outcome.failures:
            console.print(f"      [red]{failure}[/]")
        for check in outcome.failed_checks:
            console.print(f"      [red]gate failed: {check}[/]")

    # dbt (through dagster-dbt) and Dagster's step logs go to a log file; the console gets one line per run.
    log_path = settings.home / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]running the pipeline[/] [dim](details: {log_path})[/]")
    instance = dg.DagsterInstance.get()
    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        outcome = run_pipeline(build_definitions(url, settings.sandbox_url), instance, wh, VENUES, on_run=report)
    console.print()
    render_summary(read_summary(wh), console)
    _print_alerts(wh)
    console.print(
        f"\n{outcome.inserted} new raw rows this run. Next:\n"
        f"  [bold]make dev[/]                      Dagster UI on http://127.0.0.1:3000 (same warehouse and runs)\n"
        f"  [bold]psql \"{url}\"[/]   then e.g. select * from marts.reconciliation;"
    )
    if not outcome.success:
        raise typer.Exit(code=1)


def _print_alerts(wh) -> None:
    """Stale sources after this run (ops.alerts), so a venue that failed is not silently old."""
    from datetime import UTC, datetime

    from pipelines.freshness import evaluate_freshness

    evaluate_freshness(wh, datetime.now(UTC))
    with wh.connect() as conn:
        rows = conn.execute("select severity, message from ops.alerts where resolved_at is null "
                            "order by severity, subject").fetchall()
    if rows:
        console.print(f"\n[bold red]{len(rows)} open alert(s)[/] (ops.alerts):")
        for severity, message in rows:
            console.print(f"  [red]{severity}[/] {message}")
    else:
        console.print("\n[green]no open alerts[/]: every source is within its freshness limit")


@app.command("import")
def import_csv(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A CSV export (Binance trade history, "
                                "Coinbase transactions, Kraken ledgers, Ledger Live operations, or the generic "
                                "template: pipelines/sources/files/TEMPLATE.md)."),
    account: str = typer.Option(..., help="The account the file belongs to (ops.accounts.account_id)."),
    tenant: str | None = typer.Option(None, help="Tenant id, when the account id is not unique."),
    fmt: str | None = typer.Option(None, "--format", help="Force a format instead of detecting it."),
    timezone: str | None = typer.Option(None, help="IANA zone for naive timestamps of the generic template."),
) -> None:
    """Import a CSV export: bad rows are quarantined with the file, line and reason; re-imports add nothing.
    Run `coinbook run` (or the nightly job) afterwards to rebuild the models."""
    from pipelines.bootstrap import ensure_warehouse
    from pipelines.imports import import_file
    from pipelines.resources.warehouse import Warehouse
    from pipelines.sources.files import UnknownFormat

    wh = Warehouse(ensure_warehouse(get_settings()))
    try:
        outcome = import_file(wh, file, account, tenant_id=tenant, fmt=fmt, timezone=timezone)
    except (UnknownFormat, LookupError, ValueError) as exc:
        console.print(f"[red]import failed[/]: {exc}")
        raise typer.Exit(2) from None
    console.print(f"{outcome.file_name} ({outcome.format}) → {outcome.tenant_id}/{outcome.account_id}: "
                  f"{outcome.rows_in} rows in = {outcome.lines_loaded} loaded ({outcome.loaded_new} new records, "
                  f"{outcome.duplicates} already present) + {outcome.quarantined} quarantined + "
                  f"{outcome.ignored} ignored")
    if outcome.quarantined:
        with wh.connect() as conn:
            for (reason,) in conn.execute(
                    "select reason from ops.quarantine where raw_table = 'raw.file_records' "
                    "and payload->>'file_sha256' = %s order by (payload->>'line')::int limit 20",
                    (outcome.file_sha256,)):
                console.print(f"  [yellow]quarantined[/] {reason}")


@prices_app.command("load-ticks")
def prices_load_ticks(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV (header row) or Parquet of ticks: "
                                "venue, symbol, observed_at (epoch ms or ISO 8601), price, size (optional), "
                                "tick_id — see pipelines/sources/ticks.py."),
    source: str | None = typer.Option(None, "--source", help="Venue (ccxt id) for rows without a venue column."),
) -> None:
    """Load price ticks into raw.price_ticks: exactly once (a re-load adds nothing), bad ticks quarantined
    with the reason (ops.quarantine)."""
    from pipelines.bootstrap import ensure_warehouse
    from warehouse.ticks import load_ticks, read_tick_file

    url = ensure_warehouse(get_settings())
    started = time.perf_counter()
    try:
        result = load_ticks(url, read_tick_file(file), default_source=source)
    except ValueError as exc:
        console.print(f"[red]load failed[/]: {exc}")
        raise typer.Exit(2) from None
    console.print(f"{file.name}: {result.rows_in:,} ticks = {result.inserted:,} loaded + {result.duplicates:,} "
                  f"duplicates + {result.quarantined:,} quarantined ({time.perf_counter() - started:.1f} s)")
    for group in result.groups:
        console.print(f"  {group.day} {group.source:<10} {group.rows:>10,} rows  {group.inserted:>10,} new  "
                      f"({group.path})")
    if result.quarantined:
        import psycopg

        with psycopg.connect(url) as conn:
            for (reason,) in conn.execute(
                    "select reason from ops.quarantine where raw_table = 'raw.price_ticks' "
                    "order by quarantine_id desc limit 10"):
                console.print(f"  [yellow]quarantined[/] {reason}")


@report_app.command("tax")
def report_tax(
    tenant: str = typer.Option(..., help="Tenant id (ops.tenants)."),
    year: int = typer.Option(..., help="Tax year (UTC dates)."),
    out: Path = typer.Option(Path("reports"), help="Directory to write into (created if missing)."),
) -> None:
    """Form 8949 for a tenant and tax year (CSV + PDF, one line per lot slice, by the tenant's lot method), and
    the disposals that could not go on it for want of a cost basis (missing_cost_basis_*.csv)."""
    from pipelines.reports.tax import write_tax_report
    from pipelines.resources.warehouse import Warehouse
    from pipelines.settings import resolve_database_url

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


@app.command()
def summary() -> None:
    """Print positions and reconciliation from the marts (no sync)."""
    from pipelines.resources.warehouse import Warehouse
    from pipelines.settings import resolve_database_url
    from pipelines.summary import read_summary, render_summary

    render_summary(read_summary(Warehouse(resolve_database_url(get_settings()))), console)


@app.command()
def dev(port: int = typer.Option(3000, help="Dagster UI port.")) -> None:
    """Dagster UI (`dagster dev`) on the same warehouse and run storage, with the sandbox running."""
    from pipelines.bootstrap import dagster_home, ensure_dbt_manifest, ensure_warehouse, sandbox_is_up

    settings = get_settings()
    url = ensure_warehouse(settings)
    ensure_dbt_manifest(settings, url)
    home = dagster_home(settings, url)
    server = None
    if not sandbox_is_up(settings.sandbox_url):
        from sandbox.server import SandboxServer

        target = urlsplit(settings.sandbox_url)
        server = SandboxServer(host=target.hostname or "127.0.0.1", port=target.port or 8765, malformed=True)
        server.__enter__()
    dagster = Path(sys.executable).with_name("dagster")
    console.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={home}); Ctrl-C to stop")
    try:
        subprocess.run([str(dagster), "dev", "-w", "workspace.yaml", "-p", str(port)], check=False,
                       env={**os.environ, "DAGSTER_HOME": str(home),
                            "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"})
    finally:
        if server is not None:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    app()
