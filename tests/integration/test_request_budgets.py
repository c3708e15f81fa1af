"""Request budgets follow whom the venue counts: Kraken counts signed calls per API key, Binance per IP.

Real ccxt clients against the sandbox over HTTP, in a world with two Kraken and three Binance accounts (a third
tenant). At 20 tenants a per-venue budget stopped 9 of 19 Kraken accounts cold although each had its own key's
allowance left; these tests pin the scoping.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.services.clients import ExchangeClients, clear_markets_cache
from pipelines.sources.exchanges.client import ExchangeAccount
from pipelines.sources.exchanges.resilience import BudgetExhausted, is_private_api
from sandbox.server import SandboxServer
from sandbox.world import DEMO_TRADES, Scale

BUDGET = 4  # calls per minute, small enough to spend in a test


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(scale=Scale(3, DEMO_TRADES + 50)) as server:
        yield server


@pytest.fixture()
def clients(sandbox: SandboxServer, tmp_path: Any) -> Iterator[ExchangeClients]:
    clear_markets_cache()  # budgets live in the process: each test starts with fresh ones
    yield ExchangeClients(sandbox_url=sandbox.url, home=str(tmp_path), rate_limit=False, request_budget=BUDGET)
    clear_markets_cache()


def _account(tenant: str, account_id: str, venue: str) -> ExchangeAccount:
    return ExchangeAccount(tenant, account_id, "main", venue, "sandbox", f"sandbox:{account_id}")


def _spend(exchange: Any, calls: int) -> None:
    for _ in range(calls):
        exchange.fetch_balance()


def test_each_kraken_key_has_its_own_budget_for_signed_calls(clients: ExchangeClients) -> None:
    first = clients.client(_account("acme", "acme-kraken", "kraken"))  # markets: one public call
    second = clients.client(_account("client-003", "client-003-kraken", "kraken"))
    _spend(first, BUDGET)
    with pytest.raises(BudgetExhausted, match="budget of 4"):
        first.fetch_balance()
    _spend(second, BUDGET)  # another key: its own allowance, untouched by the first key's calls
    with pytest.raises(BudgetExhausted):
        second.fetch_balance()
    # public calls stay on the venue-wide (per IP) budget, which the signed calls did not touch
    public = clients.public_client("kraken")
    public.fetch_ticker("BTC/USD")


def test_binance_counts_every_call_per_ip_so_accounts_share_one_budget(clients: ExchangeClients) -> None:
    first = clients.client(_account("acme", "acme-binance-main", "binance"))  # markets: one public call
    second = clients.client(_account("client-003", "client-003-binance", "binance"))
    _spend(first, BUDGET - 1)
    with pytest.raises(BudgetExhausted):
        second.fetch_balance()  # the same machine's weight: the second account finds it spent


@pytest.mark.parametrize(("api", "private"), [
    ("private", True), (["v3", "private"], True), ("v2Private", True), ("public", False),
    (["spot", "public"], False), ("sapi", False),
])
def test_signed_families_are_recognised(api: Any, private: bool) -> None:
    assert is_private_api(api) is private
