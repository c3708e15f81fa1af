"""The client register: accounts read from ops.accounts (what each sync needs to know about one), and registered
from the sandbox's directory or a YAML file.

Credentials are referenced by name (credential_ref), never stored here: see services/credentials.py.
Partition sets: one per exchange venue (`<venue>_accounts`) and one per on-chain source (`bitcoin_accounts`,
`evm_accounts`, `defi_accounts`), keyed 'tenant.account'.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines.sources.exchanges.client import ExchangeAccount, split_partition_key
from warehouse.accounts import upsert_accounts
from warehouse.connection import Warehouse


@dataclass(frozen=True)
class AccountSpec:
    tenant_id: str
    tenant_name: str
    portfolio_id: str
    portfolio_name: str
    account_id: str
    venue: str
    display_name: str
    mode: str
    credential_ref: str | None
    history_start: datetime | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    kind: str = "exchange"  # exchange | wallet | defi


def specs_from_sandbox(sandbox_url: str) -> list[AccountSpec]:
    with urllib.request.urlopen(f"{sandbox_url}/__sandbox/accounts", timeout=10) as response:
        published = json.load(response)
    return [
        AccountSpec(
            tenant_id=a["tenant_id"], tenant_name=a["tenant_name"], portfolio_id=a["portfolio_id"],
            portfolio_name=a["portfolio_name"], account_id=a["account_id"], venue=a["venue"],
            display_name=a["display_name"], mode="sandbox",
            credential_ref=f"sandbox:{a['account_id']}" if a.get("kind", "exchange") == "exchange" else None,
            history_start=datetime.fromisoformat(a["history_start"].replace("Z", "+00:00"))
            if a.get("history_start") else None,
            settings=a.get("settings") or {}, kind=a.get("kind", "exchange"),
        )
        for a in published["accounts"]
    ]


# Account settings a YAML file may give: exchanges (symbols, assets), Bitcoin wallets (xpub, script_type,
# gap_limit, addresses), EVM wallets and DeFi position sets (address, protocols).
WALLET_SETTINGS = ("symbols", "assets", "xpub", "script_type", "gap_limit", "addresses", "address", "protocols")


def specs_from_yaml(path: Path) -> list[AccountSpec]:
    """tenants: [{id, name, portfolios: [{id, name, accounts: [{id, venue, name, credential, ...}]}]}]"""
    document = yaml.safe_load(path.read_text()) or {}
    specs: list[AccountSpec] = []
    for tenant in document.get("tenants", []):
        for portfolio in tenant.get("portfolios", []):
            for account in portfolio.get("accounts", []):
                start = account.get("history_start")
                specs.append(AccountSpec(
                    tenant_id=str(tenant["id"]), tenant_name=str(tenant.get("name", tenant["id"])),
                    portfolio_id=str(portfolio["id"]), portfolio_name=str(portfolio.get("name", portfolio["id"])),
                    account_id=str(account["id"]), venue=str(account["venue"]),
                    display_name=str(account.get("name", account["id"])), mode=str(account.get("mode", "live")),
                    credential_ref=account.get("credential"),
                    history_start=datetime.fromisoformat(str(start)) if start else None,
                    settings={k: account[k] for k in WALLET_SETTINGS if k in account},
                    kind=str(account.get("kind", "exchange")),
                ))
    return specs


def register_accounts(wh: Warehouse, specs: list[AccountSpec]) -> int:
    """Upsert tenants, portfolios and accounts; returns how many accounts were new."""
    return upsert_accounts(wh, specs)


# ── reading the register ─────────────────────────────────────────────────────────────────────────────────
# The on-chain partition sets: (account kind, venues; None = every venue of that kind but bitcoin for 'evm')
WALLET_SOURCES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "bitcoin": ("wallet", ("bitcoin",)),
    "evm": ("wallet", None),  # every EVM chain: ethereum, arbitrum, ...
    "defi": ("defi", None),
}

ACCOUNTS_SQL = """
select tenant_id, account_id, portfolio_id, venue, mode, credential_ref,
       (extract(epoch from history_start) * 1000)::bigint, settings
from ops.accounts
where kind = any(%(kinds)s) and (%(venue)s::text is null or venue = %(venue)s)
  and (enabled or not %(enabled_only)s)
order by tenant_id, account_id
"""


def accounts(wh: Warehouse, venue: str | None = None, *, enabled_only: bool = True,
             kinds: tuple[str, ...] = ("exchange",)) -> list[ExchangeAccount]:
    with wh.connect() as conn:
        rows = conn.execute(ACCOUNTS_SQL, {"venue": venue, "enabled_only": enabled_only,
                                           "kinds": list(kinds)}).fetchall()
    return [ExchangeAccount(t, a, p, v, m, c, h, s or {}) for t, a, p, v, m, c, h, s in rows]


def account(wh: Warehouse, partition: str) -> ExchangeAccount:
    """The account behind a partition key 'tenant.account' (enabled or not)."""
    tenant_id, account_id = split_partition_key(partition)
    for found in accounts(wh, enabled_only=False, kinds=("exchange", "wallet", "defi")):
        if (found.tenant_id, found.account_id) == (tenant_id, account_id):
            return found
    raise LookupError(f"no account {account_id!r} for tenant {tenant_id!r} in ops.accounts")


def accounts_of(wh: Warehouse, source: str) -> list[ExchangeAccount]:
    """The enabled accounts behind a partition set: an exchange venue's, or an on-chain source's."""
    if source not in WALLET_SOURCES:
        return accounts(wh, source)
    kind, venues = WALLET_SOURCES[source]
    found = accounts(wh, kinds=(kind,))
    if source == "evm":
        return [a for a in found if a.venue != "bitcoin"]
    return [a for a in found if venues is None or a.venue in venues]


def venue_mode(wh: Warehouse, venue: str) -> str | None:
    """Market data comes from the sandbox when every account of the venue is a sandbox account; a venue
    without accounts needs no market data (None)."""
    modes = {a.mode for a in accounts(wh, venue)}
    if not modes:
        return None
    return "sandbox" if modes == {"sandbox"} else "live"


def history_start_ms(wh: Warehouse, venue: str) -> int | None:
    with wh.connect() as conn:
        row = conn.execute(
            "select (extract(epoch from min(history_start)) * 1000)::bigint from ops.accounts where venue = %s",
            (venue,),
        ).fetchone()
    return row[0] if row else None


def resolve_account(wh: Warehouse, account_id: str, tenant_id: str | None = None) -> tuple[str, str]:
    """(tenant, account) of an account id given on a command line; --tenant only when the id is ambiguous."""
    with wh.connect() as conn:
        found = conn.execute("select tenant_id, account_id from ops.accounts where account_id = %s "
                             "and (%s::text is null or tenant_id = %s)", (account_id, tenant_id, tenant_id)).fetchall()
    if not found:
        raise LookupError(f"no account {account_id!r}" + (f" for tenant {tenant_id!r}" if tenant_id else "")
                          + " in ops.accounts (coinbook accounts list)")
    if len(found) > 1:
        raise LookupError(f"account {account_id!r} exists for several tenants: pass --tenant")
    return found[0][0], found[0][1]
