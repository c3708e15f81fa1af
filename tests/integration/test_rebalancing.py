"""Rebalancing proposals on the sandbox (issue 18 §1), on a database of its own: acme's Binance and Kraken accounts
synced by one real pipeline run (a copy of test_earn's world: the two share that run), targets set through the CLI,
proposals from the service (ccxt's markets from the sandbox over HTTP), the breaker blocking, and the managers'
decisions on their own logins — the life of a proposal enforced by the table (its rules agree with
domain/rebalancing.TRANSITIONS, pair by pair)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pipelines.domain.rebalancing import TRANSITIONS
from pipelines.services import trading
from pipelines.services.clients import ExchangeClients
from pipelines.services.users import add_user, remove_user
from sandbox.world import VENUE_MARKETS
from tests.integration.test_earn import WORLD as EARN_WORLD
from tests.support import admin_warehouse, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
ACCOUNTS = ("acme-binance-main", "acme-kraken")
PASSWORD = "rebalance-pass-1234"
# Logins are the cluster's, not the database's: names of this run only, removed at the end.
RUN = uuid.uuid4().hex[:6]
ALICE, BOB, CAROL = f"alice{RUN}", f"bob{RUN}", f"carol{RUN}"


# acme's main book synced by one nightly run: the world of test_earn (Earn planted on the Kraken account, valued
# as its coin), so the two modules share that run
WORLD = EARN_WORLD
assert set(WORLD.accounts) == set(ACCOUNTS)


@pytest.fixture(scope="module")
def synced(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Any]]:
    with synced_world(cluster, WORLD, tmp_path_factory.mktemp("rebalancing")) as world:
        url = world.url
        try:
            admin = admin_warehouse(url)
            with admin.connect() as conn:  # another client, no accounts: its manager must not decide for acme
                conn.execute("insert into ops.tenants (tenant_id, name) values ('bluefin', 'Bluefin Family Office')")
            add_user(admin, ALICE, "manager", ["acme"], PASSWORD)
            add_user(admin, BOB, "manager", ["bluefin"], PASSWORD)
            add_user(admin, CAROL, "accountant", ["acme"], PASSWORD)
            yield url, world.sandbox.url, world.sandbox
        finally:
            for login in (ALICE, BOB, CAROL):
                with contextlib.suppress(Exception):
                    remove_user(admin_warehouse(url), login)


def _q(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _weights(url: str) -> dict[str, Decimal]:
    """Each asset's share of acme/main, from marts.positions (USDT and USD at 1)."""
    rows = _q(url, """select asset, sum(value_usd) from marts.positions
                      where tenant_id = 'acme' and portfolio_id = 'main' and value_usd is not null group by asset""")
    total = sum(v for _, v in rows)
    return {a: v / total for a, v in rows}


def _cli(url: str, sandbox_url: str, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """`coinbook trading …` as a process, on this module's database."""
    env = {**os.environ, "COINBOOK_DATABASE_URL": url, "COINBOOK_SANDBOX_URL": sandbox_url, "COLUMNS": "250",
           **env_extra}
    return subprocess.run([str(Path(sys.executable).parent / "coinbook"), "trading", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_portfolio_outside_its_bands_gets_orders_a_venue_accepts(synced: tuple[str, str, Any]) -> None:
    url, sandbox_url, _sandbox = synced
    weights = _weights(url)
    coin = max((a for a in weights if a not in ("USDT", "USD")), key=lambda a: weights[a])
    half = (weights[coin] / 2).quantize(Decimal("0.0001"))
    done = _cli(url, sandbox_url, "targets", "set", "main", "--tenant", "acme", "--cash", "USDT",
                "--band", f"{coin}={half * 100}:2", "--as", ALICE, COINBOOK_LOGIN_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    recorded, problems = trading.propose_all(Warehouse(url), ExchangeClients(sandbox_url), datetime.now(UTC), "acme")
    assert problems == []
    (p,) = recorded
    assert p.state == "proposed" and p.orders >= 1
    _, drifts, orders, events = trading.proposal_detail(Warehouse(url), p.proposal_id)  # type: ignore[misc]
    assert {d["asset"]: d["outside"] for d in drifts}[coin] is True
    free = dict(((a, acc), f) for acc, a, f in _q(
        url, """select distinct on (account_id, asset) account_id, asset, free from intermediate.int_reported_balances
                where tenant_id = 'acme' order by account_id, asset, observed_at desc"""))
    for _i, account, symbol, side, amount, limit, _notional, _fee, client_id in orders:
        assert side == "sell" and symbol == f"{coin}/USDT"
        # On the venue's own step and tick (the sandbox's market table, not what ccxt told the service) …
        market = next(m for m in VENUE_MARKETS["binance"] if m.base == coin and m.quote == "USDT")
        assert amount % market.step == 0 and limit % market.tick == 0
        assert amount * limit >= market.min_notional
        assert amount <= free[(coin, account)]  # … never more than is free
        assert client_id.startswith("cb")
    # Back to target, but only from what may be sold where a COIN/USDT market exists (acme's Kraken quotes USD):
    # the quantity is the smaller of the two, rounded down to the step.
    (price,) = {r[0] for r in _q(url, "select price_usd from marts.positions where tenant_id = 'acme' "
                                      "and asset = %s", coin)}
    wanted = (weights[coin] - half) * p.value / price
    step = next(m.step for m in VENUE_MARKETS["binance"] if m.base == coin and m.quote == "USDT")
    on_binance = free[(coin, "acme-binance-main")]
    assert sum(o[4] for o in orders) == (min(wanted, on_binance) / step).to_integral_value(ROUND_FLOOR) * step
    ((skipped,),) = _q(url, "select skipped from ops.rebalance_proposals where proposal_id = %s", p.proposal_id)
    if wanted > on_binance and (coin, "acme-kraken") in free:
        assert any(f"kraken has no {coin}/USDT market" in s["reason"] for s in skipped), skipped
    assert events == [("proposed", events[0][1], events[0][2], None)]
    assert p.var_before_usd is not None and p.var_after_usd is not None and p.var_after_usd < p.var_before_usd
    # The same day with nothing changed: nothing new.
    assert trading.propose_all(Warehouse(url), ExchangeClients(sandbox_url), datetime.now(UTC), "acme")[0] == []
    shown = _cli(url, sandbox_url, "show", p.proposal_id)
    assert shown.returncode == 0 and f"{coin}/USDT" in shown.stdout and "proposed" in shown.stdout


def test_approval_is_a_managers_on_their_own_login(synced: tuple[str, str, Any]) -> None:
    url, _sandbox_url, _ = synced
    wh = Warehouse(url)
    p = next(x for x in trading.proposals(wh, "acme") if x.state == "proposed" and not x.blocked)
    with pytest.raises(PermissionError, match="cannot connect as"):
        trading.decide(wh, p.proposal_id, "approved", ALICE, "wrong-password-xx")
    with pytest.raises(PermissionError, match=f"'{BOB}' is not a manager of acme"):
        trading.decide(wh, p.proposal_id, "approved", BOB, PASSWORD)
    with pytest.raises(PermissionError, match=f"'{CAROL}' is an accountant: only a manager login"):
        trading.decide(wh, p.proposal_id, "approved", CAROL, PASSWORD)
    # Straight to the table as the accountant: refused there too, not only by the service.
    carol = make_conninfo(url, user=CAROL, password=PASSWORD)
    with pytest.raises(psycopg.Error), psycopg.connect(carol) as conn:
        conn.execute("insert into ops.proposal_events (tenant_id, proposal_id, state) values ('acme', %s, "
                     "'approved')", (p.proposal_id,))
    done = trading.decide(wh, p.proposal_id, "approved", ALICE, PASSWORD)
    assert done.state == "approved"
    ((actor, _state),) = _q(url, "select actor, state from ops.proposal_events where proposal_id = %s "
                                "and state = 'approved'", p.proposal_id)
    assert actor == ALICE  # the database's session_user, not a name the caller typed
    with pytest.raises(ValueError, match="an approved proposal cannot become approved"):
        trading.decide(wh, p.proposal_id, "approved", ALICE, PASSWORD)
    # A manager cannot record a send: that is the pipeline's step.
    alice = make_conninfo(url, user=ALICE, password=PASSWORD)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pipeline's to record"), \
            psycopg.connect(alice) as conn:
        conn.execute("insert into ops.proposal_events (tenant_id, proposal_id, state) values ('acme', %s, 'sent')",
                     (p.proposal_id,))


def test_an_open_breaker_blocks_the_proposal_and_nobody_can_approve_it(synced: tuple[str, str, Any]) -> None:
    url, sandbox_url, _ = synced
    admin = admin_warehouse(url)
    with admin.connect() as conn:
        conn.execute("""update marts.circuit_breaker set breaker_open = true, breaker_reason = 'tripped: test'
                        where tenant_id = 'acme' and portfolio_id = 'main'""")
    try:
        recorded, _ = trading.propose_all(Warehouse(url), ExchangeClients(sandbox_url), datetime.now(UTC), "acme")
        (p,) = recorded
        assert p.blocked and "circuit breaker open: tripped: test" in (p.block_reason or "")
        assert p.orders >= 1  # still shows what would be done
        with pytest.raises(ValueError, match="blocked, cannot be approved"):
            trading.decide(Warehouse(url), p.proposal_id, "approved", ALICE, PASSWORD)
        alice = make_conninfo(url, user=ALICE, password=PASSWORD)
        with pytest.raises(psycopg.errors.CheckViolation, match="cannot be approved"), \
                psycopg.connect(alice) as conn:
            conn.execute("insert into ops.proposal_events (tenant_id, proposal_id, state) values ('acme', %s, "
                         "'approved')", (p.proposal_id,))
        refused = _cli(url, sandbox_url, "approve", p.proposal_id, "--as", ALICE, COINBOOK_LOGIN_PASSWORD=PASSWORD)
        assert refused.returncode == 1 and "blocked, cannot be approved" in refused.stderr
        done = _cli(url, sandbox_url, "reject", p.proposal_id, "--as", ALICE, "--reason", "wait for calm",
                    COINBOOK_LOGIN_PASSWORD=PASSWORD)
        assert done.returncode == 0, done.stderr
        assert f"rejected by {ALICE}" in done.stdout
        assert [p2.state for p2 in trading.proposals(Warehouse(url), "acme") if p2.proposal_id == p.proposal_id] \
            == ["rejected"]
    finally:
        with admin.connect() as conn:
            conn.execute("update marts.circuit_breaker set breaker_open = false, breaker_reason = null "
                         "where tenant_id = 'acme' and portfolio_id = 'main'")


def test_the_tables_rules_are_the_domains_rules_pair_by_pair(synced: tuple[str, str, Any]) -> None:
    url, _, _ = synced
    admin = admin_warehouse(url)
    alice = make_conninfo(url, user=ALICE, password=PASSWORD)

    def path_to(state: str) -> list[str]:
        seen, queue = {"proposed": ["proposed"]}, deque(["proposed"])
        while queue:
            s = queue.popleft()
            for t in sorted(TRANSITIONS[s]):
                if t not in seen:
                    seen[t] = [*seen[s], t]
                    queue.append(t)
        return seen[state]

    def write(pid: str, state: str) -> None:
        target = alice if state in ("approved", "rejected") else url
        with psycopg.connect(target) as conn:
            conn.execute("insert into ops.proposal_events (tenant_id, proposal_id, state) values ('acme', %s, %s)",
                         (pid, state))

    checked = 0
    for start in TRANSITIONS:
        for wanted in TRANSITIONS:
            pid = f"rb-rules-{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute("""insert into ops.rebalance_proposals (tenant_id, proposal_id, portfolio_id, cash_asset,
                                    value, expected_cost, blocked, drifts, targets_set_at)
                                values ('acme', %s, 'main', 'USDT', 1, 0, false, '[]', now())""", (pid,))
            for state in path_to(start):
                write(pid, state)
            try:
                write(pid, wanted)
                allowed = True
            except psycopg.errors.CheckViolation:
                allowed = False
            assert allowed == (wanted in TRANSITIONS[start]), (start, wanted)
            checked += 1
    assert checked == len(TRANSITIONS) ** 2
