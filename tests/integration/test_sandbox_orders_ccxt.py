"""The sandbox's order endpoints through ccxt's own classes — Binance (POST/GET/DELETE /api/v3/order) and Kraken
(AddOrder, QueryOrders, Open/ClosedOrders, CancelOrder): fills change the balances and appear in the trade history
with the order's id; look-ups by client order id; each venue's own refusals, mapped by ccxt to its exception classes
as for the real venue."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from pipelines.services.clients import sandbox_api_base, sandbox_credentials
from pipelines.sources.exchanges.client import make_exchange
from sandbox.orders import desk
from sandbox.server import SandboxServer

pytestmark = pytest.mark.integration
ACCOUNT = "acme-binance-main"
D = Decimal


@pytest.fixture(scope="module")
def binance() -> Iterator[tuple[Any, SandboxServer]]:
    with SandboxServer(port=0) as sandbox:
        exchange = make_exchange("binance", sandbox_credentials(sandbox.url)[ACCOUNT], sandbox_url=sandbox.url,
                                 rate_limit=False, timeout_ms=10_000)
        exchange.load_markets()
        yield exchange, sandbox


def _bid(exchange: Any) -> Decimal:
    return D(exchange.fetch_ticker("BTC/USDT")["bid"])


def test_a_marketable_limit_fills_and_is_a_trade_of_the_account(binance: tuple[Any, SandboxServer]) -> None:
    exchange, sandbox = binance
    before = D(exchange.fetch_balance()["BTC"]["total"])
    price = (_bid(exchange) * D("0.995")).quantize(D("0.01"))
    order = exchange.create_order("BTC/USDT", "limit", "sell", "0.01", str(price), {"clientOrderId": "cb-fill-1"})
    assert order["clientOrderId"] == "cb-fill-1" and order["status"] == "closed"
    assert D(order["filled"]) == D("0.01") and D(order["average"]) >= price
    assert order["fee"]["currency"] == "USDT"  # Binance charges the asset received
    fetched = exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": "cb-fill-1"})
    assert fetched["id"] == order["id"] and fetched["status"] == "closed"
    assert D(exchange.fetch_balance()["BTC"]["total"]) == before - D("0.01")
    mine = [t for t in exchange.fetch_my_trades("BTC/USDT", limit=20) if t["order"] == order["id"]]
    engine_order = desk(sandbox.world).engines["binance"].by_client_id(ACCOUNT, "cb-fill-1")
    assert sorted((D(t["amount"]), D(t["price"])) for t in mine) == sorted((f.qty, f.price)
                                                                           for f in engine_order.fills)
    assert {str(t["id"]) for t in mine} == {str(i) for i in desk(sandbox.world).trade_ids[("binance",
                                                                                            engine_order.id)]}


def test_a_client_order_id_is_placed_once(binance: tuple[Any, SandboxServer]) -> None:
    exchange, _ = binance
    price = (_bid(exchange) * D("0.995")).quantize(D("0.01"))
    exchange.create_order("BTC/USDT", "limit", "sell", "0.001", str(price), {"clientOrderId": "cb-once"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        exchange.create_order("BTC/USDT", "limit", "sell", "0.001", str(price), {"clientOrderId": "cb-once"})
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": "cb-never-sent"})


def test_a_resting_order_is_cancelled_and_a_closed_one_is_not(binance: tuple[Any, SandboxServer]) -> None:
    exchange, _ = binance
    low = (_bid(exchange) * D("0.9")).quantize(D("0.01"))
    resting = exchange.create_order("BTC/USDT", "limit", "buy", "0.001", str(low), {"clientOrderId": "cb-rest"})
    assert resting["status"] == "open" and D(resting["filled"]) == 0
    assert exchange.cancel_order(resting["id"], "BTC/USDT")["status"] == "canceled"
    assert exchange.fetch_order(resting["id"], "BTC/USDT")["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(resting["id"], "BTC/USDT")


@pytest.mark.parametrize(("amount", "price_factor", "error", "message"), [
    ("1000", "0.995", ccxt.InsufficientFunds, "Account has insufficient balance for requested action."),
    ("0.000015", "0.995", ccxt.InvalidOrder, "Filter failure: LOT_SIZE"),
    # ccxt maps the NOTIONAL filter's -1013 to BadRequest (its broad list knows the older MIN_NOTIONAL only)
    ("0.00001", "0.995", ccxt.BadRequest, "Filter failure: NOTIONAL"),
])
def test_binance_refuses_in_its_own_words(binance: tuple[Any, SandboxServer], amount: str, price_factor: str,
                                          error: type[Exception], message: str) -> None:
    exchange, _ = binance
    price = (_bid(exchange) * D(price_factor)).quantize(D("0.01"))
    # ccxt rounds amounts to the market's precision itself: the raw request shows what the venue refuses
    request = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": amount,
               "price": str(price)}
    with pytest.raises(error, match=message):
        exchange.privatePostOrder(request)
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        exchange.privatePostOrder({**request, "quantity": "0.001", "price": f"{price}5"})


# ── Kraken: AddOrder, QueryOrders, OpenOrders / ClosedOrders (by cl_ord_id), CancelOrder ───────────────────────
@pytest.fixture(scope="module")
def kraken(binance: tuple[Any, SandboxServer]) -> Any:
    _, sandbox = binance
    exchange = make_exchange("kraken", sandbox_credentials(sandbox.url)["acme-kraken"],
                             sandbox_url=sandbox_api_base(sandbox.url, "kraken"), rate_limit=False, timeout_ms=10_000)
    exchange.load_markets()
    return exchange


def test_kraken_fills_an_order_and_finds_it_by_its_client_order_id(kraken: Any) -> None:
    before = D(kraken.fetch_balance()["BTC"]["total"])
    price = (D(kraken.fetch_ticker("BTC/USD")["bid"]) * D("0.995")).quantize(D("0.1"))
    client_id = ("cb" + "0123456789abcdef" * 2)[:32]  # 32 hex digits: the short-UUID form Kraken takes as cl_ord_id
    created = kraken.create_order("BTC/USD", "limit", "sell", "0.01", str(price), {"clientOrderId": client_id})
    assert kraken.fetch_open_orders("BTC/USD", params={"clientOrderId": client_id}) == []
    (closed,) = kraken.fetch_closed_orders("BTC/USD", params={"clientOrderId": client_id})
    assert closed["id"] == created["id"] and closed["clientOrderId"] == client_id and closed["status"] == "closed"
    assert D(closed["filled"]) == D("0.01") and closed["fee"]["currency"] == "USD"  # Kraken's fee in the quote
    assert kraken.fetch_order(created["id"], "BTC/USD")["status"] == "closed"
    assert D(kraken.fetch_balance()["BTC"]["total"]) == before - D("0.01")
    mine = [t for t in kraken.fetch_my_trades("BTC/USD") if t["order"] == created["id"]]
    assert sum(D(t["amount"]) for t in mine) == D("0.01")
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Duplicate order"):
        kraken.create_order("BTC/USD", "limit", "sell", "0.01", str(price), {"clientOrderId": client_id})


def test_kraken_refuses_and_cancels_in_its_own_words(kraken: Any) -> None:
    price = (D(kraken.fetch_ticker("BTC/USD")["bid"]) * D("0.995")).quantize(D("0.1"))
    with pytest.raises(ccxt.InsufficientFunds, match="EOrder:Insufficient funds"):
        kraken.create_order("BTC/USD", "limit", "sell", "1000", str(price))
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        kraken.create_order("BTC/USD", "limit", "sell", "0.0001", str(price))  # under AssetPairs' ordermin
    low = (price * D("0.9")).quantize(D("0.1"))
    resting = kraken.create_order("BTC/USD", "limit", "buy", "0.01", str(low), {"clientOrderId": "rest-k"})
    (still,) = kraken.fetch_open_orders("BTC/USD", params={"clientOrderId": "rest-k"})
    assert still["id"] == resting["id"] and D(still["filled"]) == 0
    kraken.cancel_order(resting["id"], "BTC/USD")
    assert kraken.fetch_order(resting["id"], "BTC/USD")["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        kraken.cancel_order(resting["id"], "BTC/USD")
