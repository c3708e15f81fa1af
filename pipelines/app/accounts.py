"""`coinbook accounts …`: clients, portfolios and accounts (ops.accounts), and their credentials."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from pipelines.app.console import console
from pipelines.app.ready import ensure_warehouse
from pipelines.services.accounts import AccountSpec, accounts, register_accounts, specs_from_yaml
from pipelines.services.credentials import KeySources, load_master_keys, rotate_master_key, store_credential
from pipelines.settings import get_settings, resolve_database_url
from pipelines.sources.exchanges.client import Credentials
from warehouse.connection import Warehouse

app = typer.Typer(help="Clients, portfolios and exchange accounts (ops.accounts).", no_args_is_help=True)


@app.command("list")
def list_accounts() -> None:
    """List registered accounts (credentials are references, never shown)."""
    table = Table("tenant", "portfolio", "account", "venue", "mode", "credential")
    for a in accounts(Warehouse(resolve_database_url(get_settings())), enabled_only=False):
        table.add_row(a.tenant_id, a.portfolio_id, a.account_id, a.venue, a.mode, a.credential_ref or "—")
    console.print(table)


@app.command("load")
def load(path: Path = typer.Argument(..., exists=True, help="YAML file of tenants/portfolios/accounts.")) -> None:
    """Register the accounts of a YAML file (see accounts.example.yaml)."""
    specs = specs_from_yaml(path)
    new = register_accounts(Warehouse(ensure_warehouse(get_settings())), specs)
    console.print(f"{len(specs)} accounts registered ({new} new)")


def _read_credentials(from_stdin: bool) -> Credentials:
    if from_stdin:
        parts = sys.stdin.read().split()
        if len(parts) < 2:
            raise typer.BadParameter("standard input must hold 'API_KEY SECRET [PASSWORD]'")
        return Credentials(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    return Credentials(typer.prompt("API key"), typer.prompt("API secret", hide_input=True),
                       typer.prompt("passphrase (empty if none)", default="", hide_input=True,
                                    show_default=False) or None)


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
) -> None:
    """Register an account and store its API key encrypted (AES-256-GCM; the master key stays outside the
    warehouse: COINBOOK_MASTER_KEY or .coinbook/master.key). The secret is prompted for, never echoed."""
    credentials = _read_credentials(api_key_stdin)
    settings = get_settings()
    wh = Warehouse(ensure_warehouse(settings))
    key = load_master_keys(KeySources.from_settings(settings), create=True)[0]
    spec = AccountSpec(tenant, tenant, portfolio, portfolio, account, venue, name or account, mode,
                       f"db:{account}", datetime.fromisoformat(history_start) if history_start else None)
    register_accounts(wh, [spec])  # the tenant row must exist before its credential
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
) -> None:
    """Register a watch-only wallet (no key or seed is ever asked for). The key or address is checked now."""
    from pipelines.sources.chains.hd import InvalidKey

    try:
        settings = _wallet_settings(chain, xpub, script_type, address)
    except (InvalidKey, ValueError) as exc:
        console.print(f"[red]not registered[/]: {exc}")
        raise typer.Exit(2) from None
    specs = [AccountSpec(tenant, tenant, portfolio, portfolio, account, chain, name or account, "live", None,
                         settings=settings, kind="wallet")]
    if defi and chain != "bitcoin":
        specs.append(AccountSpec(tenant, tenant, portfolio, portfolio, f"{account}-defi", chain,
                                 f"{name or account} — DeFi", "live", None,
                                 settings={**settings, "protocols": [p.strip() for p in defi.split(",")]},
                                 kind="defi"))
    register_accounts(Warehouse(ensure_warehouse(get_settings())), specs)
    console.print(", ".join(f"{s.kind} {tenant}/{s.account_id} on {chain}" for s in specs) + " registered")


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored credential with the newest master key (COINBOOK_MASTER_KEY='new,old')."""
    settings = get_settings()
    keys = load_master_keys(KeySources.from_settings(settings))
    changed = rotate_master_key(Warehouse(ensure_warehouse(settings)), keys)
    console.print(f"{changed} credential(s) re-encrypted with master key {keys[0].key_id}")
