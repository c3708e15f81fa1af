"""Orders on Coinbase (Advanced Trade), Bitfinex (v2) and HTX through ccxt's own classes against the sandbox: a fill
is the account's trade in the venue's history with the order's id; execution's look-up by client order id finds each
venue's order the way the venue allows (Coinbase List Orders, Bitfinex's active + history lists, HTX getClientOrder),
so a retried send never places a second order; the venues' own refusals (balance, minimum size, precision); a
read-only key keeps reading and its orders are refused with each venue's permission error — on all five venues."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import psycopg
import pytest

from pipelines.domain.execution import client_order_params, venue_client_order_id
from pipelines.domain.rebalancing import Band, client_order_id
from pipelines.services import execution, trading
from pipelines.services.accounts import accounts, register_accounts, specs_from_sandbox
from pipelines.services.clients import ExchangeClients, sandbox_api_base, sandbox_credentials
from pipelines.services.users import add_user, remove_user
from pipelines.sources.exchanges.client import make_exchange
from sandbox.orders import desk
from sandbox.server import SandboxServer
from sandbox.world import MARKET_BY_VENUE_SYMBOL
from tests.support import admin_warehouse, synced_world
from warehouse import execution as store
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
D = Decimal


@dataclass(frozen=True)
class Venue:
    venue: str
    account: str
    symbol: str  # ccxt's
    market_id: str  # the venue's


VENUES = {
    "coinbase": Venue("coinbase", "acme-coinbase", "BTC/USD", "BTC-USD"),
    "bitfinex": Venue("bitfinex", "bluefin-bitfinex", "BTC/USD", "tBTCUSD"),
    "htx": Venue("htx", "bluefin-htx", "BTC/USDT", "btcusdt"),
}
# Each venue's own words for an order from a key without trade permission (and ccxt's class for it).
PERMISSION = {
    # ccxt raises Binance's -2015 as DDoSProtection once the key has authenticated (its workaround for spurious ones)
    "binance": ("acme-binance-main", "BTC/USDT", (ccxt.AuthenticationError, ccxt.DDoSProtection),
                "Invalid API-key, IP, or permissions for action."),
    "kraken": ("acme-kraken", "BTC/USD", ccxt.PermissionDenied, "EGeneral:Permission denied"),
    "coinbase": ("acme-coinbase", "BTC/USD", ccxt.PermissionDenied, "Missing required scopes"),
    "bitfinex": ("bluefin-bitfinex", "BTC/USD", ccxt.PermissionDenied, "api_key: permission invalid"),
    "htx": ("bluefin-htx", "BTC/USDT", ccxt.PermissionDenied, "API key has no permission"),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def _client(sandbox: SandboxServer, venue: str, account: str, read_only: bool = False) -> Any:
    name = f"{account}:read-only" if read_only else account
    exchange = make_exchange(venue, sandbox_credentials(sandbox.url)[name],
                             sandbox_url=sandbox_api_base(sandbox.url, venue), rate_limit=False, timeout_ms=10_000)
    exchange.load_markets()
    return exchange


@pytest.fixture(scope="module", params=sorted(VENUES))
def venue(request: pytest.FixtureRequest, sandbox: SandboxServer) -> tuple[Venue, Any, SandboxServer]:
    v = VENUES[request.param]
    return v, _client(sandbox, v.venue, v.account), sandbox


def _bid(exchange: Any, symbol: str) -> Decimal:
    return D(str(exchange.fetch_ticker(symbol)["bid"]))


def _price(v: Venue, value: Decimal) -> Decimal:
    tick = MARKET_BY_VENUE_SYMBOL[(v.venue, v.market_id)].tick
    return (value / tick).to_integral_value() * tick


def _engine_orders(sandbox: SandboxServer, v: Venue) -> int:
    return len(desk(sandbox.world).engines[v.venue].orders)


def test_a_marketable_limit_fills_is_found_by_its_client_id_and_is_a_trade(venue: tuple[Venue, Any, SandboxServer]
                                                                           ) -> None:
    v, exchange, sandbox = venue
    ours = client_order_id(f"venues-fill-{v.venue}", 0)
    assert execution._lookup(exchange, v.symbol, ours) is None  # nothing yet: the send would place it
    before = D(str(exchange.fetch_balance()["BTC"]["total"]))
    price = _price(v, _bid(exchange, v.symbol) * D("0.995"))
    created = exchange.create_order(v.symbol, "limit", "sell", "0.01", str(price),
                                    client_order_params(v.venue, ours))
    found = execution._lookup(exchange, v.symbol, ours)
    assert found is not None and found["id"] == created["id"]
    assert str(found["clientOrderId"]) == venue_client_order_id(v.venue, ours)
    assert found["status"] == "closed" and D(str(found["filled"])) == D("0.01")
    if v.venue == "bitfinex":  # Retrieve Orders lists active orders only: a filled one is in Orders History
        assert created["id"] in {o["id"] for o in exchange.fetch_closed_orders(v.symbol)}
    else:
        assert exchange.fetch_order(created["id"], v.symbol)["status"] == "closed"
    assert D(str(exchange.fetch_balance()["BTC"]["total"])) == before - D("0.01")
    engine_order = desk(sandbox.world).engines[v.venue].by_client_id(v.account,
                                                                     venue_client_order_id(v.venue, ours))
    mine = [t for t in exchange.fetch_my_trades(v.symbol, limit=50) if str(t["order"]) == str(created["id"])]
    assert sorted((D(str(t["amount"])), D(str(t["price"]))) for t in mine) == sorted(
        (f.qty, f.price) for f in engine_order.fills)


def test_a_client_order_id_is_placed_once(venue: tuple[Venue, Any, SandboxServer]) -> None:
    v, exchange, sandbox = venue
    ours = client_order_id(f"venues-once-{v.venue}", 0)
    price = _price(v, _bid(exchange, v.symbol) * D("0.995"))
    first = exchange.create_order(v.symbol, "limit", "sell", "0.001", str(price), client_order_params(v.venue, ours))
    placed = _engine_orders(sandbox, v)
    if v.venue == "coinbase":  # Coinbase answers with the order that has the id, and creates none
        again = exchange.create_order(v.symbol, "limit", "sell", "0.001", str(price),
                                      client_order_params(v.venue, ours))
        assert again["id"] == first["id"]
    else:
        with pytest.raises(ccxt.ExchangeError):
            exchange.create_order(v.symbol, "limit", "sell", "0.001", str(price), client_order_params(v.venue, ours))
    assert _engine_orders(sandbox, v) == placed
    # the look-up a retried send makes finds it; an id never sent is not found
    assert execution._lookup(exchange, v.symbol, ours)["id"] == first["id"]  # type: ignore[index]
    assert execution._lookup(exchange, v.symbol, client_order_id(f"venues-never-{v.venue}", 0)) is None


def test_a_resting_order_is_listed_open_and_cancelled(venue: tuple[Venue, Any, SandboxServer]) -> None:
    v, exchange, _ = venue
    ours = client_order_id(f"venues-rest-{v.venue}", 0)
    low = _price(v, _bid(exchange, v.symbol) * D("0.9"))
    resting = exchange.create_order(v.symbol, "limit", "buy", "0.001", str(low), client_order_params(v.venue, ours))
    found = execution._lookup(exchange, v.symbol, ours)
    assert found is not None and found["status"] == "open" and D(str(found["filled"] or 0)) == 0
    assert resting["id"] in {o["id"] for o in exchange.fetch_open_orders(v.symbol)}
    exchange.cancel_order(resting["id"], v.symbol)
    assert execution._lookup(exchange, v.symbol, ours)["status"] == "canceled"  # type: ignore[index]
    assert resting["id"] not in {o["id"] for o in exchange.fetch_open_orders(v.symbol)}
    with pytest.raises(ccxt.ExchangeError):
        exchange.cancel_order(resting["id"], v.symbol)


def _raw_order(v: Venue, exchange: Any, amount: str, price: str, ours: str) -> Any:
    """The venue's own create call, unrounded (ccxt rounds amounts and prices to the market's precision itself)."""
    if v.venue == "coinbase":
        answer = exchange.v3PrivatePostBrokerageOrders({
            "client_order_id": ours, "product_id": v.market_id, "side": "SELL",
            "order_configuration": {"limit_limit_gtc": {"base_size": amount, "limit_price": price,
                                                        "post_only": False}}})
        if not answer["success"]:
            raise ccxt.ExchangeError(f"{answer['error_response']['error']}: {answer['error_response']['message']}")
        return answer
    if v.venue == "bitfinex":
        return exchange.privatePostAuthWOrderSubmit({"type": "EXCHANGE LIMIT", "symbol": v.market_id,
                                                     "amount": f"-{amount}", "price": price,
                                                     "cid": int(venue_client_order_id(v.venue, ours))})
    account_id = exchange.fetch_accounts()[0]["id"]
    return exchange.spotPrivatePostV1OrderOrdersPlace({"account-id": account_id, "symbol": v.market_id,
                                                       "type": "sell-limit", "amount": amount, "price": price,
                                                       "client-order-id": ours})


REFUSALS = {  # (amount, price factor) → the venue's words, per venue
    "coinbase": {"balance": "INSUFFICIENT_FUND.*Insufficient balance in source account",
                 "precision": "INVALID_SIZE_PRECISION", "minimum": "Order size is too small"},
    "bitfinex": {"balance": "Invalid order: not enough exchange balance",
                 "precision": "Invalid order: amount precision is 1E-8",
                 "minimum": "Invalid order: minimum size for BTCUSD"},
    "htx": {"balance": "trade account balance is not enough", "precision": "order amount precision error, scale",
            "minimum": "limit order amount error, min"},
}


@pytest.mark.parametrize(("case", "amount"), [("balance", "1000"), ("precision", "0.012345678912"),
                                              ("minimum", None)])
def test_each_venue_refuses_in_its_own_words(venue: tuple[Venue, Any, SandboxServer], case: str,
                                             amount: str | None) -> None:
    v, exchange, sandbox = venue
    market = MARKET_BY_VENUE_SYMBOL[(v.venue, v.market_id)]
    if amount is None:  # under the minimum size (Bitfinex, HTX: 10 steps) or notional (Coinbase: 1 USD)
        amount = str(market.step) if v.venue != "coinbase" else str(market.step * 5)
    price = _price(v, _bid(exchange, v.symbol) * D("0.995"))
    placed = _engine_orders(sandbox, v)
    with pytest.raises(ccxt.ExchangeError, match=REFUSALS[v.venue][case]):
        _raw_order(v, exchange, amount, str(price), client_order_id(f"venues-{case}-{v.venue}", 0))
    assert _engine_orders(sandbox, v) == placed


@pytest.mark.parametrize("venue_name", sorted(PERMISSION))
def test_a_read_only_key_reads_and_its_orders_are_refused_in_the_venues_words(sandbox: SandboxServer,
                                                                              venue_name: str) -> None:
    account, symbol, error, words = PERMISSION[venue_name]
    reader = _client(sandbox, venue_name, account, read_only=True)
    trader = _client(sandbox, venue_name, account)
    assert reader.apiKey != trader.apiKey
    # the sync's calls answer the same with either key
    assert reader.fetch_balance()["total"] == trader.fetch_balance()["total"]
    assert [t["id"] for t in reader.fetch_my_trades(symbol, limit=20)] == [
        t["id"] for t in trader.fetch_my_trades(symbol, limit=20)]
    engine = desk(sandbox.world).engines[venue_name]
    placed = len(engine.orders)
    ours = client_order_id(f"venues-readonly-{venue_name}", 0)
    price = str(D(str(reader.fetch_ticker(symbol)["bid"])).quantize(D("1")) - 1000)
    with pytest.raises(error, match=words):
        reader.create_order(symbol, "limit", "buy", "0.001", price, client_order_params(venue_name, ours))
    assert len(engine.orders) == placed


# ── one end-to-end send per venue, on the synced world test_venue_semantics.py builds (no pipeline run of its own) ──
# acme/main holds acme-binance-ops, acme-coinbase and acme-kraken there, bluefin/core bluefin-bitfinex and bluefin-htx.
# Bitfinex and HTX trade with their trading keys; acme-binance-ops says `trading: enabled` but holds a read-only key:
# its send fails with Binance's own words, and nothing reaches the book. Coinbase has no end-to-end send here: the
# pipeline's Coinbase tickers carry no bid/ask, so no proposal routes to it (its orders are tested above).
SENDS = {  # venue → (account, tenant, portfolio, coin bought, cash asset, credential); the plant emptied acme's BTC
    "bitfinex": ("bluefin-bitfinex", "bluefin", "core", "ETH", "USD", "sandbox:bluefin-bitfinex"),
    "htx": ("bluefin-htx", "bluefin", "core", "BTC", "USDT", "sandbox:bluefin-htx"),
    "binance": ("acme-binance-ops", "acme", "main", "ETH", "USDT", "sandbox:acme-binance-ops:read-only"),
}
PASSWORD = "venues-pass-1234"
MANAGER = f"vera{uuid.uuid4().hex[:6]}"


@dataclass
class Sent:
    url: str
    sandbox: SandboxServer

    @property
    def wh(self) -> Warehouse:
        return Warehouse(self.url)


@pytest.fixture(scope="module")
def sent_world(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    from tests.integration.test_venue_semantics import SPEC

    with synced_world(cluster, SPEC, tmp_path_factory.mktemp("venues")) as synced:
        credential = {account: ref for account, *_rest, ref in SENDS.values()}
        specs = [dataclasses.replace(s, settings={**s.settings, "trading": "enabled"},
                                     credential_ref=credential[s.account_id])
                 for s in specs_from_sandbox(synced.sandbox.url) if s.account_id in credential]
        register_accounts(Warehouse(synced.url), specs, update=True)
        add_user(admin_warehouse(synced.url), MANAGER, "manager", ["acme", "bluefin"], PASSWORD)
        try:
            yield Sent(synced.url, synced.sandbox)
        finally:
            with contextlib.suppress(Exception):
                remove_user(admin_warehouse(synced.url), MANAGER)


def _weights(url: str, tenant: str, portfolio: str) -> dict[str, Decimal]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("""select asset, sum(value_usd) from marts.positions where tenant_id = %s
                               and portfolio_id = %s and value_usd is not null group by asset""",
                            (tenant, portfolio)).fetchall()
    total = sum(v for _, v in rows)
    return {a: v / total for a, v in rows}


def _skipped(w: Sent, proposal_id: str) -> Any:
    with psycopg.connect(w.url) as conn:
        return conn.execute("select skipped from ops.rebalance_proposals where proposal_id = %s",
                            (proposal_id,)).fetchone()


def _approved(w: Sent, venue: str) -> trading.ProposalRow:
    """The coin's target 1 point over its weight, orders only on `venue`: a buy paid from that account's cash."""
    account, tenant, portfolio, coin, cash, _credential = SENDS[venue]
    target = (_weights(w.url, tenant, portfolio)[coin] + D("0.01")).quantize(D("0.0001"))
    trading.set_targets(w.wh, tenant, portfolio, [Band.around(coin, target, D("0.002"))], cash, D(0), (venue,),
                        MANAGER, PASSWORD)
    recorded, problems = trading.propose_all(w.wh, ExchangeClients(w.sandbox.url), datetime.now(UTC), tenant)
    assert problems == []
    (p,) = recorded
    orders = store.proposal_orders(w.wh, tenant, p.proposal_id)
    assert orders and {(o[1], o[4]) for o in orders} == {(account, "buy")}, _skipped(w, p.proposal_id)
    return trading.decide(w.wh, p.proposal_id, "approved", MANAGER, PASSWORD)


@pytest.mark.parametrize("venue_name", ["bitfinex", "htx"])
def test_an_approved_proposal_is_sent_and_filled_and_a_retry_places_nothing(sent_world: Sent, venue_name: str
                                                                            ) -> None:
    w = sent_world
    account = SENDS[venue_name][0]
    p = _approved(w, venue_name)
    orders = store.proposal_orders(w.wh, p.tenant_id, p.proposal_id)
    engine = desk(w.sandbox.world).engines[venue_name]
    done = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id, polls=1, poll_interval_s=0)
    assert done.placed == len(orders) and done.proposal.state in ("filled", "partially_filled"), done.reports
    assert all(r["filled"] > 0 and r["venue_order_id"] for r in done.reports.values())
    ours = {venue_client_order_id(venue_name, o[7]) for o in orders}
    mine = [o for o in engine.orders.values() if o.account_id == account and o.client_order_id in ours]
    assert len(mine) == len(orders)  # one order each
    # A send retried on the (partially) filled proposal, or one that died before recording, finds every order at
    # the venue by its client id and places none.
    for row in orders:
        client = ExchangeClients(w.sandbox.url).client(
            next(a for a in accounts(w.wh, enabled_only=False) if a.account_id == account))
        assert execution._lookup(client, row[3], row[7]) is not None
    before = len(engine.orders)
    if done.proposal.state == "partially_filled":
        again = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id, polls=0)
        assert again.placed == 0 and again.found == len(orders)
    assert len(engine.orders) == before
    # the fills are trades of the account, with the order's id, in the history the trade sync reads
    traded = {str(t.order_id) for t in w.sandbox.world.trades[account]}
    assert {str(o.id) for o in mine} <= traded


def test_a_read_only_key_fails_the_proposal_with_binances_words(sent_world: Sent) -> None:
    w = sent_world
    p = _approved(w, "binance")
    engine = desk(w.sandbox.world).engines["binance"]
    before = len(engine.orders)
    done = execution.send(w.wh, ExchangeClients(w.sandbox.url), p.proposal_id, polls=0)
    assert done.placed == 0 and done.proposal.state == "failed"
    assert {r["status"] for r in done.reports.values()} == {"refused"}
    assert len(engine.orders) == before
    with psycopg.connect(w.url) as conn:
        ((reason,),) = conn.execute("select reason from ops.proposal_events where proposal_id = %s "
                                    "order by event_id desc limit 1", (p.proposal_id,)).fetchall()
    assert "Invalid API-key, IP, or permissions for action." in reason
