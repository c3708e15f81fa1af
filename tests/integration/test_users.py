"""coinbook users and row-level security on a small world of its own database: two tenants' rows in tables an
accountant writes, an auditor reads and a manager may not see; the catalog checks (tests/access_checks.py) pass,
and each breach made on purpose (a policy dropped, RLS not forced, a write granted) is found. test_pipeline runs
the same checks on the real pipeline's world."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from pipelines.services.users import UserError, add_user, list_users, remove_user, rotate_password
from tests.access_checks import isolation_failures
from tests.support import admin_warehouse
from warehouse.connection import Warehouse
from warehouse.users import scram_verifier

pytestmark = pytest.mark.integration

TENANTS = ["alpha", "beta"]


@pytest.fixture(scope="module")
def world(cluster) -> Iterator[Warehouse]:

    name = f"coinbook_users_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    with psycopg.connect(url) as conn:
        for tenant in TENANTS:
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (tenant, tenant.title()))
            conn.execute("insert into ops.cost_basis (tenant_id, entry_id, cost) values (%s, 'e1', 100)", (tenant,))
            conn.execute("insert into ops.lot_methods (tenant_id, tax_year, method) values (%s, 2025, 'fifo')",
                         (tenant,))
            conn.execute("insert into ops.sync_log (tenant_id, account_id, source, endpoint, status, started_at) "
                         "values (%s, 'acct', 'binance', 'trades', 'ok', now())", (tenant,))
        # a table created after the migration is secured too (event trigger), as an extra venue's raw tables are
        conn.execute("create table raw.extra_trades (like raw.binance_trades including all)")
    yield Warehouse(url)
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def admin(world: Warehouse) -> Warehouse:
    """The superuser on the same database: logins are administration."""
    return admin_warehouse(world.database_url)


def test_isolation_holds_and_each_breach_made_on_purpose_is_found(world: Warehouse) -> None:
    assert isolation_failures(world, TENANTS) == []
    breaches = {
        "drop policy tenant_isolation on ops.cost_basis": "reads none of its 1 rows in ops.cost_basis",
        "drop policy tenant_isolation on ops.cost_basis; create policy tenant_isolation on ops.cost_basis "
        "using (true)": "reads ops.cost_basis rows of",
        "alter table ops.lot_methods no force row level security": "ops.lot_methods: no forced row-level security",
        "grant update on ops.sync_log to coinbook_auditor": "auditor can update ops.sync_log",
        "grant insert on marts.positions_probe to coinbook_manager": "manager can insert marts.positions_probe",
    }
    for breach, found in breaches.items():
        with world.connect() as conn:
            conn.execute("create table if not exists marts.positions_probe (tenant_id text, qty numeric)")
            conn.execute(breach)
        try:
            failures = isolation_failures(world, TENANTS)
            assert any(found in failure for failure in failures), (breach, failures)
        finally:
            with world.connect() as conn:  # mend it for the next breach
                conn.execute("revoke all on ops.sync_log, marts.positions_probe from coinbook_auditor, "
                             "coinbook_manager")
                for table in ("ops.cost_basis", "ops.lot_methods", "ops.sync_log", "marts.positions_probe"):
                    conn.execute("select ops.secure_relation(%s::regclass)", (table,))
    assert isolation_failures(world, TENANTS) == []


def test_scram_verifier_matches_rfc_7677() -> None:
    """The verifier checks RFC 7677's exchange (user 'user', password 'pencil'): the client's proof recovers a key
    whose hash is StoredKey, and ServerKey signs the server's final message."""
    import base64
    import hashlib
    import hmac

    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_verifier("pencil", salt=salt, iterations=4096)
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    assert (method, params) == ("SCRAM-SHA-256", "4096:W22ZaJ0SNY7soEsUEjb6gQ==")
    auth = (b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert base64.b64encode(hmac.new(server_key, auth, hashlib.sha256).digest()).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_a_login_is_refused_what_it_should_not_have(world: Warehouse, admin: Warehouse) -> None:
    for name, role, tenants, why in [("Bad", "auditor", ["alpha"], "lower-case"),
                                     ("coinbook_x", "auditor", ["alpha"], "reserved"),
                                     ("jo", "admin", ["alpha"], "role"),
                                     ("jo", "auditor", ["nobody"], "unknown tenant"),
                                     ("postgres", "auditor", ["alpha"], "exists already")]:
        with pytest.raises(UserError, match=why):
            add_user(admin, name, role, tenants)
    with pytest.raises(UserError, match="shorter"):
        add_user(admin, "jo", "auditor", ["alpha"], "short")


@pytest.fixture()
def cli(world: Warehouse, admin: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    from pipelines.app import console as consoles
    from pipelines.app.console import PasswordMasking
    from pipelines.app.main import app
    from pipelines.settings import get_settings

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
        monkeypatch.setenv("COINBOOK_DATABASE_URL", admin.database_url)  # an operator's URL: logins need its rights
        get_settings.cache_clear()
        out = io.StringIO()
        monkeypatch.setattr(consoles.console, "file", PasswordMasking(out))
        monkeypatch.setattr(consoles.err_console, "file", PasswordMasking(out))
        result = CliRunner().invoke(app, list(args), input=stdin)
        return result.exit_code, out.getvalue() + result.stdout

    yield invoke
    monkeypatch.undo()
    get_settings.cache_clear()


def test_users_add_list_rotate_remove_through_the_cli(world: Warehouse, admin: Warehouse,
                                                      cli: Callable[..., tuple[int, str]]) -> None:
    name = f"acct_{uuid.uuid4().hex[:6]}"
    code, out = cli("users", "add", name, "--role", "accountant", "--tenant", "alpha", "--generate")
    assert code == 0, out
    password = out.split("keep it somewhere safe): ")[1].split()[0]
    with psycopg.connect(make_conninfo(world.database_url, user=name, password=password)) as conn:
        assert conn.execute("select distinct tenant_id from ops.cost_basis").fetchall() == [("alpha",)]
    code, out = cli("users", "list")
    assert code == 0 and name in out and "accountant" in out, out
    listed = next(login for login in list_users(world) if login.name == name)
    assert (listed.group, listed.tenants) == ("coinbook_accountant", ("alpha",))
    verifier = _verifier(admin, name)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    code, out = cli("users", "rotate-password", name, stdin="a-new-long-password\na-new-long-password\n")
    assert code == 0 and "a-new-long-password" not in out, out
    assert _verifier(admin, name) != verifier
    code, out = cli("users", "add", name, "--role", "auditor", "--tenant", "beta", "--generate")
    assert code == 1 and "exists already" in out, out
    code, out = cli("users", "remove", name)
    assert code == 0, out
    assert name not in {login.name for login in list_users(world)}
    code, out = cli("users", "remove", name)
    assert code == 1 and "no Coinbook login" in out, out


def test_add_user_again_with_exist_ok_sets_role_tenants_and_password(world: Warehouse, admin: Warehouse) -> None:
    name = f"viewer_{uuid.uuid4().hex[:6]}"
    first = add_user(admin, name, "manager", ["alpha"])
    try:
        second = add_user(admin, name, "auditor", ["beta"], exist_ok=True)
        listed = next(login for login in list_users(world) if login.name == name)
        assert (listed.group, listed.tenants) == ("coinbook_auditor", ("beta",))
        assert second != first
        assert rotate_password(admin, name, "yet-another-password") == "yet-another-password"
    finally:
        remove_user(admin, name)


def _verifier(wh: Warehouse, name: str) -> str:
    with wh.connect() as conn:
        return str(conn.execute("select rolpassword from pg_authid where rolname = %s", (name,)).fetchone()[0])
