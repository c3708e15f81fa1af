"""`coinbook accounts …`: clients, portfolios and accounts (ops.accounts), and their credentials."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.app.console import console, err_console
from pipelines.app.ready import ensure_warehouse
from pipelines.services.accounts import (
    CREDENTIAL_SCHEMES,
    AccountSpec,
    RegisteredAccount,
    RegistrationPlan,
    account_problems,
    apply_registration,
    plan_registration,
    registered_accounts,
    specs_from_yaml,
)
from pipelines.services.accounts import history_start as parse_history_start
from pipelines.services.credentials import KeySources, load_master_keys, rotate_master_key, store_credential
from pipelines.services.venues import all_venues
from pipelines.settings import get_settings, resolve_database_url
from pipelines.sources.exchanges.client import Credentials
from warehouse.connection import Warehouse

app = typer.Typer(help="Clients, portfolios and exchange accounts (ops.accounts).", no_args_is_help=True)


@app.command("list")
def list_accounts() -> None:
    """List every registered account (exchanges, wallets and DeFi position sets) with its kind, venue or chain,
    mode and credential reference (a reference, never a secret) or, for a watch-only account, what it watches."""
    table = Table("tenant", "portfolio", "account", "kind", "venue / chain", "mode", "credential / watches")
    for a in registered_accounts(Warehouse(resolve_database_url(get_settings()))):
        table.add_row(a.tenant_id, a.portfolio_id, a.account_id + ("" if a.enabled else " (disabled)"), a.kind,
                      a.venue, a.mode, _reads(a))
    console.print(table)


def _short(text: str) -> str:
    return text if len(text) <= 20 else f"{text[:12]}…{text[-6:]}"


def _reads(a: RegisteredAccount) -> str:
    """The credential reference of an exchange account, what a watch-only account watches."""
    if a.kind == "exchange":
        if not a.credential_ref:
            return "—"
        scheme = a.credential_ref.partition(":")[0]
        return a.credential_ref if scheme in CREDENTIAL_SCHEMES else "(not a reference: hidden)"
    watched = a.settings.get("xpub") or a.settings.get("address")
    addresses = a.settings.get("addresses") or []
    if watched:
        text = _short(str(watched))
    elif addresses:
        text = _short(str(addresses[0])) + (f" +{len(addresses) - 1} more" if len(addresses) > 1 else "")
    else:
        text = "—"
    protocols = a.settings.get("protocols")
    return f"{text} ({', '.join(protocols)})" if protocols else text


def _register(wh: Warehouse, specs: list[AccountSpec], update: bool) -> RegistrationPlan:
    """Register `specs`: with `update`, each change to a registered account is printed, then applied; without,
    a change is refused (RegistrationRefused names the accounts and fields; nothing is written)."""
    plan = plan_registration(wh, specs)
    plan.check(update)
    for change in plan.changed:
        console.print(f"updating {change.spec.tenant_id}/{change.spec.account_id}:")
        for field in change.changes:
            console.print(f"    {escape(str(field))}")
    apply_registration(wh, plan)
    return plan


@app.command("load")
def load(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML file of tenants/portfolios/accounts."),
    update: bool = typer.Option(False, "--update", help="Change accounts that are already registered (their "
                                "credential, venue, mode, …): each change is printed, field: old -> new."),
) -> None:
    """Register the accounts of a YAML file (see accounts.example.yaml). The whole file is checked first: any
    problem (with its line) and nothing is written. An account already registered is left alone when the file
    says the same; a different credential, venue, mode or other field is refused unless --update."""
    settings = get_settings()
    specs = specs_from_yaml(path, all_venues(settings.venues))
    plan = _register(Warehouse(ensure_warehouse(settings)), specs, update)
    console.print(f"{len(plan.specs)} accounts in {path.name}: {len(plan.new)} new, {len(plan.changed)} updated, "
                  f"{len(plan.unchanged)} already registered")


def _refuse(problems: list[tuple[str, str]]) -> None:
    """Print each (field, problem) and end the command (exit 2), when there is any."""
    if problems:
        _fail(problems)


def _fail(problems: list[tuple[str, str]]) -> NoReturn:
    for _, problem in problems:
        err_console.print(f"[red]not registered:[/] {escape(problem)}", soft_wrap=True)
    raise typer.Exit(2)


def _read_credentials(from_stdin: bool) -> Credentials:
    """The key, secret and optional passphrase, without surrounding whitespace (a paste often brings some); a
    blank key or secret is refused (exit 2) before anything is stored."""
    if from_stdin:
        parts = sys.stdin.read().split()
        if len(parts) < 2:
            _fail([("key", "standard input must hold 'API_KEY SECRET [PASSWORD]'")])
        key, secret, password = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
    else:
        key = typer.prompt("API key").strip()
        secret = typer.prompt("API secret", hide_input=True).strip()
        password = typer.prompt("passphrase (empty if none)", default="", hide_input=True, show_default=False)
    _refuse([(name, f"the API {name} is blank") for name, value in (("key", key), ("secret", secret))
             if not value.strip()])
    return Credentials(key, secret, password.strip() or None)


@app.command("add")
def add(
    tenant: str = typer.Option(..., help="Tenant (client) id, e.g. 'acme'."),
    account: str = typer.Option(..., help="Account id, unique within the tenant, e.g. 'acme-kraken'."),
    venue: str = typer.Option(..., help="ccxt exchange id: binance, coinbase, kraken, bitfinex, htx, ..."),
    portfolio: str = typer.Option("main", help="Portfolio id within the tenant."),
    name: str | None = typer.Option(None, help="Display name (default: the account id)."),
    mode: str = typer.Option("live", help="'live' (the real venue) or 'sandbox' (the local sandbox)."),
    api_key_stdin: bool = typer.Option(False, "--api-key-stdin",
                                       help="Read 'API_KEY SECRET [PASSWORD]' from standard input (for scripts)."),
    history_start: str | None = typer.Option(None, help="ISO date where the first sync's back-fill begins."),
    update: bool = typer.Option(False, "--update", help="Change the account if it is registered differently "
                                "(each change is printed, field: old -> new)."),
) -> None:
    """Register an account and store its API key encrypted (AES-256-GCM; the master key stays outside the
    warehouse: COINBOOK_MASTER_KEY or .coinbook/master.key). The secret is prompted for, never echoed; a blank
    key or secret is refused. Adding an account that is registered replaces its stored key."""
    settings = get_settings()
    try:
        start = parse_history_start(history_start)
    except ValueError:
        _fail([("history_start", f"--history-start {history_start!r} is not an ISO 8601 time")])
    spec = AccountSpec(tenant, tenant, portfolio, portfolio, account, venue, name or account, mode,
                       f"db:{account}", start)
    _refuse(account_problems(spec, all_venues(settings.venues)))  # before the key is asked for
    credentials = _read_credentials(api_key_stdin)
    wh = Warehouse(ensure_warehouse(settings))
    key = load_master_keys(KeySources.from_settings(settings), create=True)[0]
    _register(wh, [spec], update)  # the tenant row must exist before its credential
    store_credential(wh, tenant_id=tenant, credential_id=account, venue=venue, credentials=credentials, key=key)
    console.print(f"account {tenant}/{account} on {venue} registered; key {credentials.api_key[:4]}… stored "
                  f"encrypted (master key {key.key_id})")


def _wallet_settings(chain: str, xpub: str | None, script_type: str | None, address: list[str]) -> dict:
    """The wallet's settings, checked now (ValueError / InvalidKey say what is wrong)."""
    from pipelines.sources.chains.abi import checksum_address
    from pipelines.sources.chains.bitcoin import BtcWalletSpec
    from pipelines.sources.chains.evm import CHAIN_IDS

    if chain == "bitcoin":
        settings = {k: v for k, v in {"xpub": xpub, "script_type": script_type,
                                      "addresses": list(address) or None}.items() if v}
        BtcWalletSpec.from_settings(settings)
        return settings
    if chain in CHAIN_IDS:
        if len(address) != 1:
            raise ValueError("an EVM wallet is one --address 0x…")
        return {"address": checksum_address(address[0])}
    raise ValueError(f"unknown chain {chain!r}: bitcoin, {', '.join(CHAIN_IDS)}")


@app.command("add-wallet")
def add_wallet(
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
    update: bool = typer.Option(False, "--update", help="Change the wallet if it is registered differently "
                                "(each change is printed, field: old -> new)."),
) -> None:
    """Register a watch-only wallet (no key or seed is ever asked for). The key or address is checked now."""
    from pipelines.sources.chains.hd import InvalidKey

    try:
        watched = _wallet_settings(chain, xpub, script_type, address)
    except (InvalidKey, ValueError) as exc:
        _fail([("wallet", str(exc))])
    specs = [AccountSpec(tenant, tenant, portfolio, portfolio, account, chain, name or account, "live", None,
                         settings=watched, kind="wallet")]
    if defi and chain != "bitcoin":
        specs.append(AccountSpec(tenant, tenant, portfolio, portfolio, f"{account}-defi", chain,
                                 f"{name or account} — DeFi", "live", None,
                                 settings={**watched, "protocols": [p.strip() for p in defi.split(",")]},
                                 kind="defi"))
    settings = get_settings()
    _refuse([p for s in specs for p in account_problems(s, all_venues(settings.venues))])
    _register(Warehouse(ensure_warehouse(settings)), specs, update)
    console.print(", ".join(f"{s.kind} {tenant}/{s.account_id} on {chain}" for s in specs) + " registered")


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored credential with the newest master key (COINBOOK_MASTER_KEY='new,old')."""
    settings = get_settings()
    keys = load_master_keys(KeySources.from_settings(settings))
    changed = rotate_master_key(Warehouse(ensure_warehouse(settings)), keys)
    console.print(f"{changed} credential(s) re-encrypted with master key {keys[0].key_id}")
