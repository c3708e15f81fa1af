"""Logins of people (a PostgreSQL LOGIN role each, member of one of the group roles of migrations V016 and V030) and
their tenants (ops.user_tenants). A login belongs to the cluster, its tenants to a database. The password reaches the
server as a SCRAM-SHA-256 verifier computed here, never in clear (it would sit in the server's log)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from warehouse.connection import Warehouse

GROUP_ROLES = ("coinbook_manager", "coinbook_accountant", "coinbook_auditor", "coinbook_compliance")
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


@dataclass(frozen=True)
class Login:
    name: str
    group: str  # one of GROUP_ROLES
    tenants: tuple[str, ...]  # in this database
    can_login: bool


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as pg_authid.rolpassword).
    NFKC stands for SASLprep's normalisation, which is the identity on printable ASCII."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", unicodedata.normalize("NFKC", password).encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return (f"SCRAM-SHA-256${iterations}:{b64(salt)}"
            f"${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")


def role_exists(wh: Warehouse, name: str) -> bool:
    with wh.connect() as conn:
        return conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() is not None


def create_login(wh: Warehouse, name: str, group: str, tenants: Sequence[str], verifier: str, *,
                 replace: bool = False) -> None:
    """A LOGIN role `name` in `group` with the tenants `tenants` in this database; with `replace`, an existing
    login's password, group and tenants are set instead (its memberships here replaced)."""
    login = sql.Identifier(name)
    with wh.connect() as conn, conn.transaction():
        if replace and conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("alter role {} login password {}").format(login, sql.Literal(verifier)))
            for other in GROUP_ROLES:
                if other != group:
                    conn.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(other), login))
        else:
            conn.execute(sql.SQL("create role {} login password {}").format(login, sql.Literal(verifier)))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), login))
        # A login of that name removed earlier may have left memberships here: they are not this person's.
        conn.execute("delete from ops.user_tenants where login = %s", (name,))
        conn.execute("insert into ops.user_tenants (login, tenant_id) select %s, unnest(%s::text[])",
                     (name, list(tenants)))


def set_password(wh: Warehouse, name: str, verifier: str) -> None:
    with wh.connect() as conn:
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(name), sql.Literal(verifier)))


def drop_login(wh: Warehouse, name: str) -> None:
    """The login and its tenants in this database (memberships in other databases of the cluster stay until a
    login of that name is created there again, which clears them)."""
    with wh.connect() as conn, conn.transaction():
        conn.execute("delete from ops.user_tenants where login = %s", (name,))
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def logins(wh: Warehouse) -> list[Login]:
    """Every login that is a member of a Coinbook group role, with its tenants in this database."""
    with wh.connect() as conn:
        rows = conn.execute(
            """select m.rolname, g.rolname, m.rolcanlogin,
                      coalesce((select array_agg(u.tenant_id order by u.tenant_id) from ops.user_tenants u
                                 where u.login = m.rolname), '{}')
                 from pg_auth_members am
                 join pg_roles g on g.oid = am.roleid
                 join pg_roles m on m.oid = am.member
                where g.rolname = any(%s) and m.rolcanlogin
                order by m.rolname""", (list(GROUP_ROLES),)).fetchall()
    return [Login(name, group, tuple(tenants), can_login) for name, group, can_login, tenants in rows]
