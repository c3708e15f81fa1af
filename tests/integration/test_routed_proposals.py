"""Routing in the rebalancing proposals (issue 18 §2), on test_venue_semantics' synced world (one account per venue:
acme trades USD on Coinbase and Kraken, which both quote BTC, ETH and SOL in USD): a copy of that world, no pipeline
run of its own. A trade that two venues can take goes to the router with both venues' books (read over HTTP from
the sandbox through ccxt); the proposal is its split when that is cheaper per unit than the naive plan on those
books, else the naive plan (here Coinbase's 1.2 % taker fee keeps a purchase on Kraken) — never worse; each order
on its venue's step, within its account's free cash; with one venue allowed the proposal is the naive one. The
split itself: tests/unit/test_routed_rebalancing.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from pipelines.domain.rebalancing import Band, Order, propose
from pipelines.domain.routing import Level, VenueBook, priced, route
from pipelines.services import trading
from pipelines.services.clients import ExchangeClients
from pipelines.services.users import add_user, remove_user
from sandbox.world import VENUE_MARKETS
from tests.integration.test_venue_semantics import SPEC as SEMANTICS_WORLD
from tests.support import admin_warehouse, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
VENUES = ("coinbase", "kraken")  # acme's two USD venues in that world
PASSWORD = "routing-pass-1234"
MANAGER = f"router{uuid.uuid4().hex[:6]}"  # a login of this run only (logins are the cluster's)


@pytest.fixture(scope="module")
def synced(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with synced_world(cluster, SEMANTICS_WORLD, tmp_path_factory.mktemp("routed")) as world:
        try:
            add_user(admin_warehouse(world.url), MANAGER, "manager", ["acme"], PASSWORD)
            yield world.url, world.sandbox.url
        finally:
            with contextlib.suppress(Exception):
                remove_user(admin_warehouse(world.url), MANAGER)


def _q(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _free_cash(url: str) -> dict[str, tuple[str, Decimal]]:
    """venue → (acme's account there, its free USD) as the service reads it (the latest reported free balance)."""
    with Warehouse(url).connect() as conn:
        holdings, _usd, _modes = trading.load_holdings(conn, "acme", "main")
    return {h.venue: (h.account_id, h.free) for h in holdings if h.asset == "USD" and h.venue in VENUES}


def _book_side(clients: ExchangeClients, venue: str, symbol: str, side: str) -> tuple[Level, ...]:
    book = clients.public_client(venue, "sandbox").fetch_order_book(symbol, 100)
    return tuple(Level(Decimal(str(p)), Decimal(str(q))) for p, q, *_ in book["asks" if side == "buy" else "bids"])


def _per_unit(orders: list[Order], books: list[VenueBook], side: str) -> tuple[Decimal, Decimal]:
    split: dict[str, Decimal] = {}
    for o in orders:
        split[o.venue] = split.get(o.venue, Decimal(0)) + o.amount
    r = priced(books, split, side)
    return r.filled, r.all_in / r.filled


def _push(url: str, coin: str, share: Decimal, venues: tuple[str, ...]) -> None:
    """Targets that put `share` more of the portfolio into `coin`, its band a quarter of that wide on each side (so
    the coin is outside it)."""
    _total, weights = _positions(url)
    target = (weights[coin] + share).quantize(Decimal("0.0001"))
    width = (share / 4).quantize(Decimal("0.0001"))
    trading.set_targets(Warehouse(url), "acme", "main", [Band(coin, target, target - width, target + width)], "USD",
                        Decimal(0), venues, MANAGER, PASSWORD)


def _coin(url: str) -> str:
    """A coin acme holds (a purchase needs its price) that both venues quote in USD."""
    _total, weights = _positions(url)
    return next(c for c in ("ETH", "SOL", "BTC") if weights.get(c, Decimal(0)) > 0)


def _positions(url: str) -> tuple[Decimal, dict[str, Decimal]]:
    rows = _q(url, """select asset, sum(value_usd) from marts.positions
                      where tenant_id = 'acme' and portfolio_id = 'main' and value_usd is not null group by asset""")
    total = sum((v for _, v in rows), Decimal(0))
    return total, {a: v / total for a, v in rows}


def test_a_trade_two_venues_can_take_goes_to_the_router_and_never_costs_more(synced: tuple[str, str]) -> None:
    url, sandbox_url = synced
    cash = _free_cash(url)
    assert set(cash) == set(VENUES) and all(c > 1000 for _, c in cash.values()), cash  # USD to spend on both
    coin = _coin(url)
    total, _weights = _positions(url)
    # A purchase of the smaller account's cash: the naive plan pays it all from the account with the most cash, far
    # deeper than the top of that venue's book
    _push(url, coin, min(c for _, c in cash.values()) / total, VENUES)
    clients = ExchangeClients(sandbox_url)
    recorded, problems = trading.propose_all(Warehouse(url), clients, datetime.now(UTC), "acme")
    assert problems == []
    (p,) = recorded
    rows = _q(url, """select account_id, venue, symbol, side, amount, limit_price, notional, fee, expected_cost, routed
                      from ops.rebalance_orders where tenant_id = 'acme' and proposal_id = %s order by order_index""",
              p.proposal_id)
    assert rows and all(r[3] == "buy" and r[2] == f"{coin}/USD" for r in rows)
    assert len({r[9] for r in rows}) == 1  # the router's split or the naive plan, never a mix
    routed_flag = rows[0][9]
    assert abs(p.expected_cost - sum(r[8] for r in rows)) <= Decimal("1e-8") * len(rows)

    # The naive plan on the same inputs (the service's own readers, the domain's planner) against the recorded one,
    # both priced through the books the sandbox serves, each venue within its account's free cash
    with Warehouse(url).connect() as conn:
        (pt,) = trading.current_targets(conn, "acme")
        holdings, usd, _modes = trading.load_holdings(conn, "acme", "main")
        markets, _ = trading.load_markets(conn, clients, dict.fromkeys(VENUES, "sandbox"), "USD", {coin})
    # The books are read for the router only where two venues' markets are loaded (a market needs the venue's latest
    # ticker in the warehouse): then both, over HTTP through ccxt
    read = {(k[1], k[3]) for k in trading._book_cache}
    if len({m.venue for m in markets}) >= 2:
        assert read >= {(m.venue, m.symbol) for m in markets}
    else:
        assert not read & {(v, f"{coin}/USD") for v in VENUES}, [m.venue for m in markets]
    naive = propose(pt.targets, holdings, markets,
                    {a: v / usd.get("USD", Decimal(1)) for a, v in usd.items()}).orders
    books = [VenueBook(m.venue, _book_side(clients, m.venue, m.symbol, "buy"), m.taker_fee, m.amount_step,
                       balance=cash[m.venue][1]) for m in markets]
    recorded_orders = [Order(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], Decimal(0)) for r in rows]
    naive_filled, naive_unit = _per_unit(naive, books, "buy")
    filled, unit = _per_unit(recorded_orders, books, "buy")
    step = max(m.amount_step for m in markets)
    assert filled > naive_filled - step and unit <= naive_unit  # never worse
    best = route(books, naive_filled, "buy")
    if routed_flag:
        assert unit < naive_unit
    else:  # kept: the router finds nothing cheaper on these books (taker fees: Coinbase 1.2 %, Kraken 0.26 %)
        assert [(o.venue, o.amount, o.limit_price) for o in recorded_orders] == [(o.venue, o.amount, o.limit_price)
                                                                                 for o in naive]
        assert best.all_in / best.filled >= naive_unit

    # Each order: on its venue's step and tick, within the account's free cash; a routed one limited at the deepest
    # ask it takes
    for account, venue, _symbol, _side, amount, limit, notional, fee, expected, routed in rows:
        market = next(m for m in VENUE_MARKETS[venue] if m.base == coin and m.quote == "USD")
        assert amount % market.step == 0 and limit % market.tick == 0
        assert account == cash[venue][0] and notional + fee <= cash[venue][1]
        assert expected > fee
        if routed:
            asks = _book_side(clients, venue, f"{coin}/USD", "buy")
            taken, deepest = Decimal(0), asks[0].price
            for level in asks:
                if taken >= amount:
                    break
                taken, deepest = taken + level.amount, level.price
            assert limit == deepest


def test_with_one_venue_the_proposal_is_the_naive_one(synced: tuple[str, str]) -> None:
    url, sandbox_url = synced
    total, _weights = _positions(url)
    _push(url, _coin(url), _free_cash(url)["kraken"][1] / 2 / total, ("kraken",))
    recorded, problems = trading.propose_all(Warehouse(url), ExchangeClients(sandbox_url), datetime.now(UTC), "acme")
    assert problems == []
    (p,) = recorded
    rows = _q(url, """select venue, amount, limit_price, fee, expected_cost, routed from ops.rebalance_orders
                      where tenant_id = 'acme' and proposal_id = %s""", p.proposal_id)
    assert rows and all(r[0] == "kraken" and r[5] is False for r in rows)
    # the naive plan's cost: the fee and half the spread crossed at the ticker (what it was before routing)
    assert all(r[4] >= r[3] for r in rows)
    assert abs(p.expected_cost - sum(r[4] for r in rows)) <= Decimal("1e-8") * len(rows)
