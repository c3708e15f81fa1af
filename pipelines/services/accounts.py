"""Registering clients and their accounts in ops.* from the sandbox's directory or a YAML file.

Credentials are referenced by name (credential_ref), never stored: `env:NAME` reads
COINBOOK_SECRET_NAME_API_KEY / _SECRET from the environment; `sandbox:ACCOUNT` uses the sandbox's demo keys.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from psycopg.types.json import Jsonb

from pipelines.resources.warehouse import Warehouse


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
    new = 0
    with wh.connect() as conn, conn.transaction():
        for s in specs:
            conn.execute("""insert into ops.tenants (tenant_id, name) values (%s, %s)
                            on conflict (tenant_id) do update set name = excluded.name
                            where excluded.name <> excluded.tenant_id  -- a bare id never renames a client""",
                         (s.tenant_id, s.tenant_name))
            conn.execute("""insert into ops.portfolios (tenant_id, portfolio_id, name) values (%s, %s, %s)
                            on conflict (tenant_id, portfolio_id) do update set name = excluded.name
                            where excluded.name <> excluded.portfolio_id""",
                         (s.tenant_id, s.portfolio_id, s.portfolio_name))
            inserted = conn.execute(
                """insert into ops.accounts (tenant_id, account_id, portfolio_id, venue, display_name, mode,
                                            credential_ref, history_start, settings, kind)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (tenant_id, account_id) do update set
                       portfolio_id = excluded.portfolio_id, display_name = excluded.display_name,
                       kind = excluded.kind,
                       mode = excluded.mode, credential_ref = excluded.credential_ref,
                       history_start = excluded.history_start, settings = excluded.settings
                   returning (xmax = 0)""",
                (s.tenant_id, s.account_id, s.portfolio_id, s.venue, s.display_name, s.mode, s.credential_ref,
                 s.history_start, Jsonb(s.settings), s.kind),
            ).fetchone()
            new += int(bool(inserted and inserted[0]))
    return new
