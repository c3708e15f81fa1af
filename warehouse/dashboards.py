"""The dashboards' database logins: the login Superset connects as may switch (SET ROLE, at connect time) to a
per-tenant login, so PostgreSQL's row-level security, not only Superset's filters, keeps a viewer to its tenant."""

from __future__ import annotations

from psycopg import sql

from warehouse.connection import Warehouse


def grant_membership(wh: Warehouse, role: str, member: str) -> None:
    """`member` may SET ROLE `role` (idempotent)."""
    with wh.connect() as conn:
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(member)))
