"""Sending approved proposals (issue 18 §1) on the sandbox, on a database of its own: acme's Binance and Kraken accounts
synced by a real pipeline run (a copy of test_earn's world: the modules share that run; then `trading: enabled` on
Binance, Kraken without), a portfolio pushed out of its band, a
proposal approved on a manager's login, sent with ccxt to the sandbox's Binance (its matching engine), the fills brought
back by the normal trade sync — once, however often it runs — reconciling with no new break, and the positions back
inside the band. Then: a retried send places no second order, a thin book fills part of an order, an account without
`trading: enabled` or an open breaker sends nothing, and a venue's refusal fails the proposal with its reason."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.app.runner import run_pipeline
from pipelines.domain.execution import send_price
from pipelines.domain.rebalancing import Band
from pipelines.services import execution, trading
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.services.clients import ExchangeClients, sandbox_api_base, sandbox_credentials
from pipelines.services.users import add_user, remove_user
from pipelines.services.venues import SEED_VENUES
from pipelines.sources.exchanges.client import make_exchange
from sandbox.orders import desk
from sandbox.server import SandboxServer
from sandbox.world import VENUE_MARKETS
from tests.integration.test_earn import WORLD as EARN_WORLD
from tests.support import admin_warehouse, definitions_for, synced_world
from warehouse import execution as store
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
ACCOUNTS = ("acme-binance-main", "acme-kraken")
TRADER = "acme-binance-main"
PASSWORD = "execution-pass-1234"
RUN = uuid.uuid4().hex[:6]
MANAGER = f"erin{RUN}"
BAND = Decimal("0.02")
# acme's main book synced by one nightly run: test_earn's world (Earn planted on the Kraken account: its ETH, which
# no order here touches), shared with test_earn and test_rebalancing
WORLD = EARN_WORLD
assert set(WORLD.accounts) == set(ACCOUNTS)


@dataclasses.dataclass
class World:
    url: str
    sandbox: SandboxServer
    instance: dg.DagsterInstance
    specs: list[Any]

    @property
    def wh(self) -> Warehouse:
        return Warehouse(self.url)

    def sync(self, transform: bool | str = True) -> None:
        outcome = run_pipeline(definitions_for(self.url, self.sandbox.url), self.instance, self.wh, SEED_VENUES,
                               transform=transform)
        assert outcome.success, [f for r in outcome.runs for f in r.failures + r.failed_checks]

    def register(self, trading_on: bool, accounts: tuple[str, ...] = (TRADER,)) -> None:
        """The accounts file as a manager would load it: `trading: enabled` on these accounts, or on none."""
        specs = [dataclasses.replace(s, settings={**s.settings, **({"trading": "enabled"} if trading_on and
                                                                   s.account_id in accounts else {})})
                 for s in self.specs]
        register_accounts(self.wh, specs, update=True)


@pytest.fixture(scope="module")
def world(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("execution")
    with synced_world(cluster, WORLD, tmp) as synced:
        try:
            specs = [s for s in specs_from_sandbox(synced.sandbox.url) if s.account_id in ACCOUNTS]
            # the builder's Dagster instance when this module built the world, else one of its own (a copy had no
            # run: the syncs' cursors are in the database, the instance only gets the account partitions)
            instance = synced.instance or dg.DagsterInstance.ephemeral(tempdir=str(tmp / "dagster"))
            w = World(synced.url, synced.sandbox, instance, specs)
            w.register(trading_on=True)
            add_user(admin_warehouse(synced.url), MANAGER, "manager", ["acme"], PASSWORD)
            yield w
        finally:
            with contextlib.suppress(Exception):
                remove_user(admin_warehouse(synced.url), MANAGER)


def _q(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _weights(url: str) -> dict[str, Decimal]:
    rows = _q(url, """select asset, sum(value_usd) from marts.positions
                      where tenant_id = 'acme' and portfolio_id = 'main' and value_usd is not null group by asset""")
    total = sum(v for _, v in rows)
    return {a: v / total for a, v in rows}


def _breaks(url: str) -> set[tuple[str, str]]:
    return {(a, s) for a, s in _q(url, "select account_id, asset from marts.reconciliation "
                                       "where tenant_id = 'acme' and status = 'break'")}


def _coin(url: str) -> tuple[str, Decimal]:
    """acme/main's largest coin and a target 5 points above its weight: buys, which acme's Binance account pays
    from its USDT (its Kraken account quotes USD, so a sale to USDT could only use the smaller Binance holding)."""
    weights = _weights(url)
    coin = max((a for a in weights if a not in ("USDT", "USD")), key=lambda a: weights[a])
    return coin, (weights[coin] + Decimal("0.05")).quantize(Decimal("0.0001"))


def _approved_proposal(w: World, coin: str, target: Decimal) -> trading.ProposalRow:
    """Targets that put `coin` outside its band (± 2 points around `target`), the proposal, a manager's approval."""
    trading.set_targets(w.wh, "acme", "main", [Band.around(coin, target, BAND)], "USDT", Decimal(0), (),
                        MANAGER, PASSWORD)
    recorded, problems = trading.propose_all(w.wh, ExchangeClients(w.sandbox.url), datetime.now(UTC), "acme")
    assert problems == []
    (p,) = recorded
    assert p.orders >= 1 and not p.blocked
    return trading.decide(w.wh, p.proposal_id, "approved", MANAGER, PASSWORD)


def _placed(w: World) -> int:
    """Orders the sandbox's Binance engine ever accepted (every account)."""
    return len(desk(w.sandbox.world).engines["binance"].orders)


def _client(w: World) -> Any:
    return make_exchange("binance", sandbox_credentials(w.sandbox.url)[TRADER], sandbox_url=w.sandbox.url,
                         rate_limit=False, timeout_ms=10_000)


def _cli(w: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINBOOK_DATABASE_URL": w.url, "COINBOOK_SANDBOX_URL": w.sandbox.url, "COLUMNS": "250"}
    return subprocess.run([str(Path(sys.executable).parent / "coinbook"), "trading", *args], env=env,
                          capture_output=True, text=True, timeout=900)


def test_an_approved_proposal_fills_and_comes_back_once_through_the_sync(world: World) -> None:
    w = world
    coin, target = _coin(w.url)
    p = _approved_proposal(w, coin, target)
    orders = store.proposal_orders(w.wh, "acme", p.proposal_id)
    assert {o[1] for o in orders} == {TRADER} and {o[4] for o in orders} == {"buy"}
    breaks_before = _breaks(w.url)
    engine = desk(w.sandbox.world).engines["binance"]
    # A previous send placed the first order and died before it recorded anything: the retry must find it.
    first = orders[0]
    tick = next(m.tick for m in VENUE_MARKETS["binance"] if m.base == coin and m.quote == "USDT")
    _client(w).create_order(first[3], "limit", first[4], str(first[5]),
                            str(send_price(first[6], first[4], Decimal(50), tick)), {"clientOrderId": first[7]})
    placed = _placed(w)
    done = _cli(w, "send", p.proposal_id)
    assert done.returncode == 0, done.stderr
    assert f"{p.proposal_id}: filled ({len(orders) - 1} order(s) placed, 1 already at the venue)" in done.stdout
    assert _placed(w) - placed == len(orders) - 1  # the first order was not placed a second time
    mine = [o for o in engine.orders.values() if o.account_id == TRADER and
            o.client_order_id in {row[7] for row in orders}]
    assert sorted(o.client_order_id for o in mine) == sorted(row[7] for row in orders)  # one each
    assert all(o.status == "closed" for o in mine)
    events = [e[0] for e in trading.proposal_detail(w.wh, p.proposal_id)[3]]  # type: ignore[index]
    assert events == ["proposed", "approved", "sent", "filled"]
    # Sending a filled proposal again does nothing.
    again = _cli(w, "send", p.proposal_id)
    assert again.returncode == 1 and "a filled proposal is not sent" in again.stderr
    assert _placed(w) - placed == len(orders) - 1

    # The fills come back through the normal trade sync, linked by the venue's order id …
    fills = sorted((f.qty, f.price) for o in mine for f in o.fills)
    order_ids = [str(o.id) for o in mine]
    w.sync()
    linked = store.order_trades(w.wh, "acme", p.proposal_id)
    assert sorted((q, pr) for _i, _sid, q, pr, _fee, _fa in linked) == fills
    # … reconcile with no new break, and the portfolio is back inside its band.
    assert _breaks(w.url) <= breaks_before
    assert target - BAND <= _weights(w.url)[coin] <= target + BAND
    # Synced again: still once, in the raw table and in the models.
    counted = """select (select count(*) from raw.binance_trades where tenant_id = 'acme' and order_id = any(%s)),
                        (select count(*) from intermediate.int_exchange_trades
                         where tenant_id = 'acme' and order_id = any(%s))"""
    assert _q(w.url, counted, order_ids, order_ids) == [(len(fills), len(fills))]
    w.sync(transform="positions_refresh")
    assert store.order_trades(w.wh, "acme", p.proposal_id) == linked
    assert _q(w.url, counted, order_ids, order_ids) == [(len(fills), len(fills))]
    assert target - BAND <= _weights(w.url)[coin] <= target + BAND


def test_a_thin_book_fills_part_and_a_follow_up_sees_the_rest(world: World) -> None:
    w = world
    coin, target = _coin(w.url)
    p = _approved_proposal(w, coin, target)
    orders = store.proposal_orders(w.wh, "acme", p.proposal_id)
    book = desk(w.sandbox.world)
    book.depth = Decimal("0.00005")  # a few units of the step per level: the orders cannot fill whole
    try:
        done = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id, polls=1, poll_interval_s=0)
    finally:
        book.depth = Decimal(1)
    assert done.proposal.state == "partially_filled", done.reports
    assert any(r["status"] == "open" and 0 < r["filled"] < o[5] for o, r in zip(orders, done.reports.values(),
                                                                                strict=True))
    # The market comes to the resting orders' prices: they fill, and the follow-up send records it.
    market = next(m for m in VENUE_MARKETS["binance"] if m.base == coin and m.quote == "USDT")
    for row in orders:
        resting = book.engines["binance"].by_client_id(TRADER, row[7])
        if resting.status == "open":
            book.cross(market, resting.price)  # type: ignore[arg-type]
    placed = _placed(w)
    follow = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id, polls=0)
    assert follow.placed == 0 and _placed(w) == placed
    assert follow.proposal.state == "filled"
    assert all(r["status"] == "closed" and r["filled"] == o[5]
               for o, r in zip(orders, follow.reports.values(), strict=True))
    events = [e[0] for e in trading.proposal_detail(w.wh, p.proposal_id)[3]]  # type: ignore[index]
    assert events == ["proposed", "approved", "sent", "partially_filled", "filled"]


def test_nothing_is_sent_without_trading_enabled_or_with_the_breaker_open_and_a_refusal_fails(world: World) -> None:
    w = world
    w.sync(transform="positions_refresh")  # the positions after the last test's fills
    coin, target = _coin(w.url)
    p = _approved_proposal(w, coin, target)
    placed = _placed(w)
    w.register(trading_on=False)
    try:
        refused = _cli(w, "send", p.proposal_id)
        assert refused.returncode == 1
        assert f"trading is not enabled on {TRADER}" in refused.stderr and "nothing sent" in refused.stderr
    finally:
        w.register(trading_on=True)
    admin = admin_warehouse(w.url)
    with admin.connect() as conn:
        conn.execute("""update marts.circuit_breaker set breaker_open = true, breaker_reason = 'tripped: test'
                        where tenant_id = 'acme' and portfolio_id = 'main'""")
    try:
        with pytest.raises(execution.SendRefused, match=r"circuit breaker open .*tripped: test.*nothing sent"):
            execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id)
    finally:
        with admin.connect() as conn:
            conn.execute("update marts.circuit_breaker set breaker_open = false, breaker_reason = null "
                         "where tenant_id = 'acme' and portfolio_id = 'main'")
    assert _placed(w) == placed and trading.proposals(w.wh, ids=[p.proposal_id])[0].state == "approved"
    # The cash leaves the account before the send: the venue refuses, in its own words, and the proposal fails.
    w.sandbox.world.withdraw_all(TRADER, "USDT")
    done = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id)
    assert done.placed == 0 and done.proposal.state == "failed"
    assert {r["status"] for r in done.reports.values()} == {"refused"}
    ((reason,),) = _q(w.url, """select reason from ops.proposal_events where proposal_id = %s
                                order by event_id desc limit 1""", p.proposal_id)
    assert "InsufficientFunds" in reason and "Account has insufficient balance for requested action." in reason


def test_a_kraken_proposal_is_sent_and_its_fills_come_back_by_the_orders_txid(world: World) -> None:
    """Kraken's look-ups go through its order lists (QueryOrders takes txids only): a proposal in USD, which only the
    Kraken account quotes, is sent there, a retry places nothing, and the fills come back through Kraken's trade sync
    with the order's txid."""
    w = world
    w.register(trading_on=True, accounts=(TRADER, "acme-kraken"))
    weights = _weights(w.url)
    target = (weights["BTC"] + Decimal("0.03")).quantize(Decimal("0.0001"))
    trading.set_targets(w.wh, "acme", "main", [Band.around("BTC", target, BAND)], "USD", Decimal(0), (),
                        MANAGER, PASSWORD)
    recorded, problems = trading.propose_all(w.wh, ExchangeClients(w.sandbox.url), datetime.now(UTC), "acme")
    assert problems == []
    (p,) = recorded
    orders = store.proposal_orders(w.wh, "acme", p.proposal_id)
    assert {(o[1], o[3], o[4]) for o in orders} == {("acme-kraken", "BTC/USD", "buy")}
    trading.decide(w.wh, p.proposal_id, "approved", MANAGER, PASSWORD)
    engine = desk(w.sandbox.world).engines["kraken"]
    # A send that recorded 'sent', placed the orders and died: the follow-up finds each at Kraken by its client id.
    store.record_step(w.wh, "acme", p.proposal_id, "sent", "the crashed send")
    kraken = make_exchange("kraken", sandbox_credentials(w.sandbox.url)["acme-kraken"],
                           sandbox_url=sandbox_api_base(w.sandbox.url, "kraken"), rate_limit=False, timeout_ms=10_000)
    tick = next(m.tick for m in VENUE_MARKETS["kraken"] if m.base == "BTC" and m.quote == "USD")
    for row in orders:
        kraken.create_order(row[3], "limit", row[4], str(row[5]), str(send_price(row[6], row[4], Decimal(50), tick)),
                            {"clientOrderId": row[7]})
    before = len(engine.orders)
    done = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id)
    assert done.placed == 0 and done.found == len(orders) and len(engine.orders) == before
    assert done.proposal.state == "filled"
    assert {r["venue_order_id"] for r in done.reports.values()} == {
        o["id"] for row in orders for o in kraken.fetch_closed_orders("BTC/USD", params={"clientOrderId": row[7]})}
    w.sync(transform="positions_refresh")
    linked = store.order_trades(w.wh, "acme", p.proposal_id)
    fills = sorted((f.qty, f.price) for o in engine.orders.values() if o.client_order_id in {r[7] for r in orders}
                   for f in o.fills)
    assert sorted((q, pr) for _i, _sid, q, pr, _fee, _fa in linked) == fills
