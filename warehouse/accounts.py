"""Writes of the client register: tenants, portfolios and accounts (ops.*), and encrypted credentials
(ops.credentials: the ciphertext only; sealing and the master key are pipelines/services/credentials.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from warehouse.connection import Warehouse


class AccountRow(Protocol):
    tenant_id: str
    tenant_name: str
    portfolio_id: str
    portfolio_name: str
    account_id: str
    venue: str
    display_name: str
    mode: str
    credential_ref: str | None
    history_start: datetime | None
    settings: dict[str, Any]
    kind: str


def upsert_accounts(wh: Warehouse, accounts: Sequence[AccountRow]) -> int:
    """Upsert tenants, portfolios and accounts in one transaction; returns how many accounts were new."""
    new = 0
    with wh.connect() as conn, conn.transaction():
        for s in accounts:
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


def store_sealed_credentials(wh: Warehouse, sealed: Sequence[tuple[str, str, str, str, bytes, bytes, str]]) -> int:
    """(tenant_id, credential_id, venue, key_id, nonce, ciphertext, api_key_hint) rows, upserted in one
    transaction (a rotation re-encrypts every row or none). Returns the rows written."""
    with wh.connect() as conn, conn.transaction():
        for row in sealed:
            conn.execute(
                """insert into ops.credentials (tenant_id, credential_id, venue, key_id, nonce, ciphertext,
                                                api_key_hint)
                   values (%s, %s, %s, %s, %s, %s, %s)
                   on conflict (tenant_id, credential_id) do update set
                       venue = excluded.venue, key_id = excluded.key_id, nonce = excluded.nonce,
                       ciphertext = excluded.ciphertext, api_key_hint = excluded.api_key_hint, rotated_at = now()""",
                row)
    return len(sealed)
