"""The sandbox counts the requests that carried an API key (what a venue counts against that key), so the
benchmarks split account calls from public ones by what the client sent, not by a list of path fragments that
misses every new signed endpoint. ccxt's own classes, over HTTP, for each of the five venues."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.services.clients import sandbox_api_base
from pipelines.sources.exchanges.client import make_exchange
from sandbox.server import SandboxServer
from sandbox.world import Credentials

pytestmark = pytest.mark.integration
VENUES = ("binance", "kraken", "coinbase", "bitfinex", "htx")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def _stats(server: SandboxServer, *, reset: bool = False) -> dict[str, Any]:
    if reset:
        request = urllib.request.Request(f"{server.url}/__sandbox/stats/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).read()
        return {}
    with urllib.request.urlopen(f"{server.url}/__sandbox/stats", timeout=10) as response:
        return json.loads(response.read())


def _credentials(server: SandboxServer, venue: str) -> Credentials:
    account = next(a for a in server.world.accounts.values() if a.venue == venue)
    return server.world.credentials[account.account_id]


@pytest.mark.parametrize("venue", VENUES)
def test_public_calls_are_not_counted_signed(sandbox: SandboxServer, venue: str) -> None:
    _stats(sandbox, reset=True)
    exchange = make_exchange(venue, sandbox_url=sandbox_api_base(sandbox.url, venue), rate_limit=False)
    exchange.load_markets()
    stats = _stats(sandbox)
    assert stats["total"] > 0
    assert stats["signed"] == {} and stats["signed_total"] == 0


@pytest.mark.parametrize("venue", VENUES)
def test_account_calls_are_counted_signed(sandbox: SandboxServer, venue: str) -> None:
    exchange = make_exchange(venue, _credentials(sandbox, venue), sandbox_url=sandbox_api_base(sandbox.url, venue),
                             rate_limit=False)
    exchange.load_markets()
    _stats(sandbox, reset=True)
    balance = exchange.fetch_balance()
    assert balance["total"]  # the account holds something: the signed call was answered
    stats = _stats(sandbox)
    assert stats["signed_total"] >= 1
    assert set(stats["signed"]) <= set(stats["requests"])
    assert sum(stats["signed"].values()) == stats["signed_total"]
    # every request of fetch_balance after the markets are loaded is an account call
    assert stats["signed_total"] == stats["total"], stats
