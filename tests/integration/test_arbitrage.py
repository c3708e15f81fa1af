"""Arbitrage detection on the demo world (issue 18 §3), on a database of its own: the demo's exchange accounts
registered, the `arbitrage_scan` asset materialized by Dagster against the sandbox over HTTP (ccxt's own
fetch_order_book on all five venues), real dbt building marts.arbitrage_opportunities and marts.open_alerts.

The sandbox plants one gap (HTX's SOL/USDT book 2 % under the market): only bluefin has accounts on both HTX and
Binance, so only bluefin sees it. What was recorded is checked against the sandbox's own books walked here, with
the venues' documented taker fees — not against what the service computed."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.defs.resources import build_resources
from pipelines.defs.trading.arbitrage import build_assets
from pipelines.domain.arbitrage import DEFAULT_WITHDRAWAL_FEE
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
from pipelines.services.venues import SEED_VENUES, dbt_vars
from sandbox import books
from sandbox.server import SandboxServer
from sandbox.world import FEE_RULES, VENUE_MARKETS
from tests.support import settings_for
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
D = Decimal


def dbt(url: str, *select: str) -> None:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "arbitrage")}
    (target / "arbitrage").mkdir(exist_ok=True)
    (target / "arbitrage" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    done = subprocess.run([dbt_executable(), "build", "--select", *select, "--exclude-resource-type", "unit_test",
                           "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT), "--vars",
                           dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-6000:]


@pytest.fixture(scope="module")
def demo(cluster: Any) -> Iterator[tuple[str, SandboxServer]]:
    name = f"coinbook_arbitrage_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    try:
        cluster.migrate(name)
        url = cluster.url(name)
        with SandboxServer(port=0) as sandbox:
            register_accounts(Warehouse(url), [s for s in specs_from_sandbox(sandbox.url) if s.kind == "exchange"])
            # The upstream the scan reads (withdrawal fees: none synced here, so the defaults) and the views.
            dbt(url, "+int_exchange_transfers", "arbitrage_opportunities", "open_alerts")
            yield url, sandbox
    finally:
        cluster.drop_database(name)


def scan(url: str, sandbox_url: str) -> datetime:
    built = build_resources(settings_for(url, sandbox_url))
    result = dg.materialize(build_assets(settings_for(url, sandbox_url)),
                            resources={k: built[k] for k in ("warehouse", "exchanges")})
    assert result.success
    (at,) = q(url, "select max(scanned_at) from ops.arbitrage_scans")[0]
    return at


def q(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def faults(sandbox: SandboxServer, body: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{sandbox.url}/__sandbox/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def expected_sol_gap(sandbox: SandboxServer) -> tuple[Decimal, Decimal, Decimal]:
    """(size, buy cost, sell proceeds) walked by hand through the sandbox's HTX asks and Binance bids, with the
    venues' taker fees (0.2 %, 0.1 %): units taken while the next one still pays."""
    world = sandbox.world
    htx = next(m for m in VENUE_MARKETS["htx"] if m.symbol == "solusdt")
    binance = next(m for m in VENUE_MARKETS["binance"] if m.symbol == "SOLUSDT")
    asks = [[lv.price, lv.qty] for lv in books.book(world, htx, 150)[1]]
    bids = [[lv.price, lv.qty] for lv in books.book(world, binance, 100)[0]]
    fee_buy, fee_sell = FEE_RULES["htx"][0], FEE_RULES["binance"][0]
    size = cost = proceeds = D(0)
    while asks and bids and bids[0][0] * (1 - fee_sell) > asks[0][0] * (1 + fee_buy):
        take = min(asks[0][1], bids[0][1])
        size, cost, proceeds = (size + take, cost + take * asks[0][0] * (1 + fee_buy),
                                proceeds + take * bids[0][0] * (1 - fee_sell))
        for side in (asks, bids):
            side[0][1] -= take
            if side[0][1] == 0:
                side.pop(0)
    return size, cost, proceeds


def test_the_planted_gap_is_found_by_the_tenant_on_both_venues_only(demo: tuple[str, SandboxServer]) -> None:
    url, sandbox = demo
    first = scan(url, sandbox.url)
    rows = q(url, """select tenant_id, symbol, buy_venue, sell_venue, size, buy_cost, sell_proceeds, transfer_cost,
                            net_profit, edge_bps from ops.arbitrage_observations where scanned_at = %s""", first)
    assert [r[:4] for r in rows] == [("bluefin", "SOL/USDT", "htx", "binance")]  # acme: no account on HTX
    _, _, _, _, size, cost, proceeds, transfer, profit, edge = rows[0]
    want_size, want_cost, want_proceeds = expected_sol_gap(sandbox)
    assert size == want_size
    assert abs(cost - want_cost) < D("0.00000001") and abs(proceeds - want_proceeds) < D("0.00000001")
    # Withdrawing the SOL from HTX (no fee seen yet: the default), the USDT back from Binance.
    best_ask = books.book(sandbox.world, next(m for m in VENUE_MARKETS["htx"] if m.symbol == "solusdt"), 1)[1][0]
    assert transfer == (DEFAULT_WITHDRAWAL_FEE["SOL"] * best_ask.price + DEFAULT_WITHDRAWAL_FEE["USDT"]).quantize(
        D("0.00000001"))
    assert profit == proceeds - cost - transfer
    assert edge > 50
    scans = dict(q(url, "select tenant_id, venues from ops.arbitrage_scans where scanned_at = %s", first))
    assert scans == {"acme": ["binance", "coinbase", "kraken"], "bluefin": ["binance", "bitfinex", "htx"]}
    # Over bluefin's threshold (the default 50 bps): an open alert in the alerts mart, nothing for acme.
    alerts = q(url, "select tenant_id, kind, subject, severity from marts.open_alerts")
    assert alerts == [("bluefin", "arbitrage_opportunity", "SOL/USDT:htx->binance", "warning")]


def test_consecutive_scans_are_one_opportunity_and_a_scan_without_it_ends_it(
        demo: tuple[str, SandboxServer]) -> None:
    url, sandbox = demo
    second = scan(url, sandbox.url)
    ((first,),) = q(url, "select min(scanned_at) from ops.arbitrage_scans")
    (row,) = q(url, """select symbol, buy_venue, sell_venue, first_seen, last_seen, observations, still_open,
                              lasted_minutes from marts.arbitrage_opportunities where tenant_id = 'bluefin'""")
    assert row[:7] == ("SOL/USDT", "htx", "binance", first, second, 2, True)
    assert row[7] == round(D((second - first).total_seconds()) / 60, 2)
    # HTX unreachable: that scan cannot see the gap; the opportunity ends, the alert is resolved.
    faults(sandbox, {"down_venues": ["htx"]})
    try:
        third = scan(url, sandbox.url)
    finally:
        faults(sandbox, {"down_venues": []})
    ((problems,),) = q(url, "select problems from ops.arbitrage_scans where tenant_id = 'bluefin' and "
                            "scanned_at = %s", third)
    assert problems and all(p.startswith("htx") for p in problems)
    assert q(url, "select count(*) from ops.arbitrage_observations where scanned_at = %s", third) == [(0,)]
    assert q(url, "select still_open, last_seen from marts.arbitrage_opportunities") == [(False, second)]
    assert q(url, "select count(*) from marts.open_alerts where kind = 'arbitrage_opportunity'") == [(0,)]
    # Back: a new opportunity (a new run), alerted again.
    fourth = scan(url, sandbox.url)
    runs = q(url, """select first_seen, last_seen, observations, still_open from marts.arbitrage_opportunities
                     where tenant_id = 'bluefin' order by first_seen""")
    assert runs == [(first, second, 2, False), (fourth, fourth, 1, True)]
    assert q(url, "select count(*) from marts.open_alerts where kind = 'arbitrage_opportunity'") == [(1,)]


def test_the_tenants_threshold_decides_the_alert(demo: tuple[str, SandboxServer]) -> None:
    url, sandbox = demo
    ((edge,),) = q(url, """select edge_bps from ops.arbitrage_observations where tenant_id = 'bluefin'
                           order by scanned_at desc limit 1""")
    threshold = (edge + 1).quantize(D("0.01"))  # the setting keeps cents of a bp
    with psycopg.connect(url) as conn:
        conn.execute("insert into ops.arbitrage_settings (tenant_id, alert_edge_bps) values ('bluefin', %s)",
                     (threshold,))
    at = scan(url, sandbox.url)
    assert q(url, "select count(*) from ops.arbitrage_observations where scanned_at = %s", at) == [(1,)]  # seen …
    assert q(url, "select count(*) from marts.open_alerts where kind = 'arbitrage_opportunity'") == [(0,)]  # … quiet
    assert q(url, """select alert_edge_bps, above_threshold from marts.arbitrage_opportunities
                     where still_open""") == [(threshold, False)]
