"""ccxt's own binance class, unchanged, against the sandbox over HTTP: signing, paging and parsing."""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from pipelines.sources.exchanges.client import Credentials, ExchangeAccount, make_exchange
from pipelines.sources.exchanges.sync import fetch_balance_rows
from sandbox.server import SandboxServer

pytestmark = pytest.mark.integration
DAY = 86_400_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:  # well-formed records only
        yield server


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _exchange(sandbox: SandboxServer, account_id: str, secret: str | None = None) -> ccxt.binance:
    published = {a["account_id"]: a for a in _get(f"{sandbox.url}/__sandbox/accounts")["accounts"]}
    account = published[account_id]
    creds = Credentials(account["api_key"], secret or account["secret"])
    return make_exchange("binance", creds, sandbox_url=sandbox.url, rate_limit=False)


def test_markets_balances_and_auth(sandbox: SandboxServer) -> None:
    truth = _get(f"{sandbox.url}/__sandbox/truth")
    binance_accounts = {a: f for a, f in truth["accounts"].items() if f["venue"] == "binance"}
    assert len(binance_accounts) == 3
    for account_id, facts in binance_accounts.items():
        exchange = _exchange(sandbox, account_id)
        markets = exchange.load_markets()
        assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "ETH/BTC"} <= set(markets)
        assert markets["BTC/USDT"]["precision"]["amount"] is not None
        balance = exchange.fetch_balance()
        reported = {k: Decimal(v) for k, v in facts["reported_balances"].items()}
        assert {k: Decimal(v) for k, v in balance["total"].items()} == reported
    with pytest.raises(ccxt.AuthenticationError):
        _exchange(sandbox, "acme-binance-main", secret="not-the-secret").fetch_balance()
    bad_key = make_exchange("binance", Credentials("nobody", "x"), sandbox_url=sandbox.url, rate_limit=False)
    with pytest.raises(ccxt.AuthenticationError):
        bad_key.fetch_balance()


def test_every_trade_once_by_from_id_paging(sandbox: SandboxServer) -> None:
    truth = _get(f"{sandbox.url}/__sandbox/truth")
    exchange = _exchange(sandbox, "bluefin-binance")
    exchange.load_markets()
    seen: list[tuple[str, str]] = []
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "ETH/BTC"):
        from_id = 0
        while True:
            page = exchange.fetch_my_trades(symbol, limit=200, params={"fromId": from_id})
            seen += [(t["symbol"], t["id"]) for t in page]
            for t in page:
                assert Decimal(t["amount"]) > 0 and Decimal(t["price"]) > 0 and t["side"] in ("buy", "sell")
                assert Decimal(t["cost"]) == Decimal(t["amount"]) * Decimal(t["price"])
            if len(page) < 200:
                break
            from_id = int(page[-1]["id"]) + 1
    assert len(seen) == len(set(seen)) == truth["accounts"]["bluefin-binance"]["trades"]


def test_transfers_in_90_day_windows(sandbox: SandboxServer) -> None:
    truth = _get(f"{sandbox.url}/__sandbox/truth")
    exchange = _exchange(sandbox, "acme-binance-main")
    start = 1_748_736_000_000  # 2025-06-01
    deposits, withdrawals = [], []
    for lower in range(start, start + 500 * DAY, 90 * DAY):
        upper = lower + 90 * DAY - 1
        deposits += exchange.fetch_deposits(since=lower, params={"endTime": upper})
        withdrawals += exchange.fetch_withdrawals(since=lower, params={"endTime": upper})
    facts = truth["accounts"]["acme-binance-main"]
    assert len({d["id"] for d in deposits}) == len(deposits) == facts["deposits"]
    assert len({w["id"] for w in withdrawals}) == len(withdrawals) == facts["withdrawals"]
    assert all(w["timestamp"] and w["fee"]["cost"] for w in withdrawals)
    internal = {t["txid"] for t in truth["internal_transfers"] if t["from_account"] == "acme-binance-main"}
    assert internal <= {w["txid"] for w in withdrawals}
    with pytest.raises(ccxt.BadRequest):  # Binance refuses windows over 90 days
        exchange.fetch_deposits(since=start, params={"endTime": start + 91 * DAY})


def test_candles_and_tickers_are_closed_and_stable(sandbox: SandboxServer) -> None:
    exchange = _exchange(sandbox, "acme-binance-ops")
    exchange.load_markets()
    candles = exchange.fetch_ohlcv("BTC/USDT", "1d", since=1_748_736_000_000, limit=1000)
    assert len(candles) >= 480
    assert all(Decimal(c[3]) <= min(Decimal(c[1]), Decimal(c[4])) for c in candles)
    assert all(b[0] - a[0] == DAY for a, b in itertools.pairwise(candles))
    first = exchange.fetch_tickers(["BTC/USDT", "ETH/BTC"])
    again = exchange.fetch_tickers(["BTC/USDT", "ETH/BTC"])
    assert set(first) == {"BTC/USDT", "ETH/BTC"}
    assert first["BTC/USDT"]["timestamp"] == again["BTC/USDT"]["timestamp"]
    assert first["BTC/USDT"]["last"] == again["BTC/USDT"]["last"]


def test_faults_are_injected_on_demand(sandbox: SandboxServer) -> None:
    exchange = _exchange(sandbox, "acme-binance-ops")
    sandbox.set_faults(down=True)
    try:
        with pytest.raises(ccxt.ExchangeNotAvailable):
            exchange.fetch_balance()
    finally:
        sandbox.set_faults(down=False)
    assert exchange.fetch_balance()["total"]


def test_a_balance_stamped_zero_is_stamped_with_the_fetch_time(sandbox: SandboxServer) -> None:
    """Binance answers `updateTime: 0` for some account types: the snapshot takes the fetch time, so a later
    snapshot gets a new key instead of colliding with 'USDT@0' forever."""
    exchange = _exchange(sandbox, "acme-binance-ops")
    account = ExchangeAccount("acme", "acme-binance-ops", "main", "binance", "sandbox", None)
    sandbox.set_faults(zero_update_time=["acme-binance-ops"])
    try:
        assert exchange.fetch_balance()["info"]["updateTime"] == 0  # the venue's reply, through ccxt
        first = fetch_balance_rows(exchange, account, None, 1_800_000_000_000).rows
        later = fetch_balance_rows(exchange, account, None, 1_800_000_060_000).rows
    finally:
        sandbox.set_faults(zero_update_time=[])
    usdt = next(r for r in first if r["asset"] == "USDT")
    assert usdt["source_record_id"] == "USDT@1800000000000" and usdt["observed_at"] is not None
    assert {r["source_record_id"] for r in later}.isdisjoint(r["source_record_id"] for r in first)
    assert usdt["payload"]["snapshot"] == next(r for r in later if r["asset"] == "USDT")["payload"]["snapshot"]
    timed = fetch_balance_rows(exchange, account, None, 1_800_000_000_000).rows
    assert next(r for r in timed if r["asset"] == "USDT")["source_record_id"] != usdt["source_record_id"]
