"""`coinbook trading arbitrage threshold|show` (issue 18 §3): a tenant's arbitrage alert threshold set through the CLI
on a manager's own login (recorded as that login, the history kept), refused to a manager of another tenant and to
an accountant, shown per tenant (the default where none was set), and what the scan reads. On the session's fresh
database, with tenants and logins of this run only."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from pipelines.domain.arbitrage import DEFAULT_ALERT_EDGE_BPS
from pipelines.services import trading
from pipelines.services.arbitrage import thresholds
from pipelines.services.users import add_user, remove_user
from tests.support import admin_warehouse
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
MINE, OTHER = f"arb{RUN}a", f"arb{RUN}b"
MANAGER, STRANGER, ACCOUNTANT = f"mgr{RUN}", f"strg{RUN}", f"acct{RUN}"
PASSWORD = "threshold-pass-1234"


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    admin = admin_warehouse(database_url)
    with admin.connect() as conn:
        for tenant in (MINE, OTHER):
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (tenant, tenant.title()))
    add_user(admin, MANAGER, "manager", [MINE], PASSWORD)
    add_user(admin, STRANGER, "manager", [OTHER], PASSWORD)
    add_user(admin, ACCOUNTANT, "accountant", [MINE], PASSWORD)
    try:
        yield database_url
    finally:
        for login in (MANAGER, STRANGER, ACCOUNTANT):
            with contextlib.suppress(Exception):
                remove_user(admin, login)


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINBOOK_DATABASE_URL": url, "COINBOOK_LOGIN_PASSWORD": PASSWORD, "COLUMNS": "250"}
    return subprocess.run([str(Path(sys.executable).parent / "coinbook"), "trading", "arbitrage", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _rows(url: str, tenant: str) -> list[tuple[Decimal, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("""select alert_edge_bps, recorded_by from ops.arbitrage_settings where tenant_id = %s
                               order by set_at""", (tenant,)).fetchall()


def test_a_manager_sets_the_threshold_on_their_own_login_and_it_is_shown(url: str) -> None:
    assert trading.arbitrage_thresholds(Warehouse(url), MINE) == [(MINE, DEFAULT_ALERT_EDGE_BPS, None, None)]
    for bps in ("80", "72.5"):
        done = _cli(url, "threshold", "--tenant", MINE, "--bps", bps, "--as", MANAGER)
        assert done.returncode == 0, done.stderr
    assert _rows(url, MINE) == [(Decimal("80"), MANAGER), (Decimal("72.5"), MANAGER)]  # the history kept
    shown = _cli(url, "show")
    line = next(x for x in shown.stdout.splitlines() if MINE in x)
    assert "72.5" in line and MANAGER in line
    other = next(x for x in shown.stdout.splitlines() if OTHER in x)
    assert str(DEFAULT_ALERT_EDGE_BPS) in other and "default" in other
    with psycopg.connect(url) as conn:  # what the scan reads: the latest, per tenant
        assert thresholds(conn)[MINE] == Decimal("72.5") and OTHER not in thresholds(conn)


def test_a_manager_of_another_tenant_is_refused(url: str) -> None:
    before = _rows(url, MINE)
    done = _cli(url, "threshold", "--tenant", MINE, "--bps", "60", "--as", STRANGER)
    assert done.returncode == 1 and "not a manager of" in done.stderr, done.stderr
    assert _rows(url, MINE) == before


# ids fixed: the logins are random per process, and xdist's workers must collect the same test names
@pytest.mark.parametrize(("login", "bps", "error"), [(ACCOUNTANT, "60", PermissionError),
                                                      (MANAGER, "-5", ValueError)],
                         ids=["accountant", "negative"])
def test_an_accountant_or_a_negative_threshold_is_refused(url: str, login: str, bps: str,
                                                           error: type[Exception]) -> None:
    before = _rows(url, MINE)
    with pytest.raises(error):
        trading.set_arbitrage_threshold(Warehouse(url), MINE, Decimal(bps), login, PASSWORD)
    assert _rows(url, MINE) == before
