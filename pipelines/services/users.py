"""People's own logins to the warehouse: one PostgreSQL login per person, in a group role (manager, accountant,
auditor, compliance officer; migrations V016 and V030 say what each may read and write), seeing only its tenants'
rows (row-level security by ops.user_tenants). `coinbook users …` and the dashboards' per-tenant viewers use
these functions."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from warehouse.connection import Warehouse, mask_passwords
from warehouse.users import (
    GROUP_ROLES,
    Login,
    create_login,
    drop_login,
    logins,
    role_exists,
    scram_verifier,
    set_password,
)

ROLES = {"manager": "coinbook_manager", "accountant": "coinbook_accountant", "auditor": "coinbook_auditor",
         # reads as an auditor; records screening decisions, the KYC register and thresholds (V030)
         "compliance": "coinbook_compliance"}
# Lower case (unquoted SQL names fold to it), and never a group role's or PostgreSQL's reserved prefix.
LOGIN_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
RESERVED_PREFIXES = ("pg_", "coinbook_")
MIN_PASSWORD_LENGTH = 12


class UserError(ValueError):
    """A users command cannot do what was asked; the message says why."""


def generate_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 bits


def login_problem(name: str) -> str | None:
    if not LOGIN_NAME.match(name):
        return f"login {name!r}: lower-case letters, digits, '_', '.', '-', starting with a letter (max 63)"
    if name.startswith(RESERVED_PREFIXES):
        return f"login {name!r}: names starting with {' or '.join(RESERVED_PREFIXES)} are reserved"
    return None


def _known_tenants(wh: Warehouse) -> set[str]:
    with wh.connect() as conn:
        return {row[0] for row in conn.execute("select tenant_id from ops.tenants")}


def _coinbook_login(wh: Warehouse, name: str) -> Login | None:
    return next((login for login in logins(wh) if login.name == name), None)


def add_user(wh: Warehouse, name: str, role: str, tenants: Sequence[str], password: str | None = None, *,
             exist_ok: bool = False) -> str:
    """Create the login `name` in group `role` (manager, accountant, auditor or compliance) seeing `tenants`; returns
    its password (`password`, or a generated one). A login that exists is refused, unless it is a Coinbook login and
    `exist_ok`: then its password, role and tenants are set again (re-running a set-up script)."""
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    problem = login_problem(name)
    if problem:
        raise UserError(problem)
    if not tenants:
        raise UserError("at least one --tenant")
    unknown = sorted(set(tenants) - _known_tenants(wh))
    if unknown:
        raise UserError(f"unknown tenant(s): {', '.join(unknown)} (see coinbook accounts list)")
    if not role_exists(wh, ROLES[role]):
        raise UserError(f"group role {ROLES[role]} is missing: migration V016 could not create roles "
                        "(the migrating user needs CREATEROLE)")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters")
    replace = False
    if role_exists(wh, name):
        if not (exist_ok and _coinbook_login(wh, name)):
            raise UserError(f"login {name!r} exists already (coinbook users rotate-password, or remove it first)")
        replace = True
    password = password if password is not None else generate_password()
    create_login(wh, name, ROLES[role], sorted(set(tenants)), scram_verifier(password), replace=replace)
    return password


def rotate_password(wh: Warehouse, name: str, password: str | None = None) -> str:
    """A new password for a Coinbook login; returns it."""
    if _coinbook_login(wh, name) is None:
        raise UserError(f"no Coinbook login {name!r} (coinbook users list)")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters")
    password = password if password is not None else generate_password()
    set_password(wh, name, scram_verifier(password))
    return password


def remove_user(wh: Warehouse, name: str) -> None:
    if _coinbook_login(wh, name) is None:
        raise UserError(f"no Coinbook login {name!r} (coinbook users list)")
    drop_login(wh, name)


def list_users(wh: Warehouse) -> list[Login]:
    return logins(wh)


def acting_as(wh: Warehouse, name: str, password: str, role: str = "compliance") -> Warehouse:
    """The warehouse as the person `name` (their own login and password, over the same host and database as `wh`),
    once checked that the login is a Coinbook login of `role` and that the password opens it: what a change that
    must carry its actor (a screening decision, a KYC entry) is written through. UserError otherwise."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    login = _coinbook_login(wh, name)
    if login is None:
        raise UserError(f"no Coinbook login {name!r} (coinbook users list)")
    if role_of(login) != role:
        raise UserError(f"login {name!r} is a{'n' if role_of(login)[0] in 'aeiou' else ''} {role_of(login)}: only a "
                        f"{role} login may make this change (coinbook users add NAME --role {role})")
    person = Warehouse(make_conninfo(wh.database_url, user=name, password=password))
    try:
        with person.connect(connect_timeout=10):
            pass
    except psycopg.OperationalError as exc:
        reason = mask_passwords(str(exc).strip().splitlines()[-1])  # never a password in a message
        raise UserError(f"cannot connect as {name!r}: {reason}") from None
    return person


def role_of(login: Login) -> str:
    """manager, accountant, auditor or compliance."""
    return next(short for short, group in ROLES.items() if group == login.group)


__all__ = ["GROUP_ROLES", "ROLES", "Login", "UserError", "acting_as", "add_user", "generate_password", "list_users",
           "login_problem", "remove_user", "role_of", "rotate_password"]
