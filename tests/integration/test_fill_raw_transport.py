"""bench/fill_raw.py answers ccxt in-process (sandbox.server.answer through a requests adapter): ccxt must get what
the sandbox's HTTP server sends. One account per venue: its balance and its own trades (the first page the sync
asks for), once over HTTP and once in-process, parsed by ccxt, compared. (The demo built both ways is compared
table by table in bench/check_fill.py: 19 of 19 equal.)"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from bench.fill_raw import InProcessVenue
from pipelines.services.accounts import specs_from_sandbox
from pipelines.services.clients import sandbox_api_base, sandbox_credentials
from pipelines.sources.exchanges.client import ExchangeAccount, make_exchange
from pipelines.sources.exchanges.sync import sync_trades
from pipelines.sources.exchanges.venues import profile
from sandbox.server import SandboxServer

pytestmark = pytest.mark.integration
PAGES = 40  # of the sync's trade pages per account: enough to reach trades on every venue, quick


def _read(exchange: Any, account: ExchangeAccount, now_ms: int) -> tuple[Any, Any]:
    """The balance as ccxt parses it, and the sync's first pages of trade rows (sources/exchanges/sync.py)."""
    exchange.load_markets()
    balance = {k: v for k, v in exchange.fetch_balance().items() if k not in ("info", "timestamp", "datetime")}
    venue = profile(account.venue)
    symbols = sorted(s for s, m in exchange.markets.items() if m.get("spot") and m["base"] == "BTC") \
        if venue.trades_per_symbol else None
    pages = itertools.islice(sync_trades(exchange, venue, account, symbols, {}, now_ms, None), PAGES)
    return balance, [(p.endpoint, p.cursor, p.rows) for p in pages]


def test_in_process_answers_equal_the_http_server_s() -> None:
    with SandboxServer(port=0) as sandbox:
        keys = sandbox_credentials(sandbox.url)
        first: dict[str, ExchangeAccount] = {}
        for spec in specs_from_sandbox(sandbox.url):
            if spec.kind == "exchange" and spec.venue not in first:
                first[spec.venue] = ExchangeAccount(
                    spec.tenant_id, spec.account_id, spec.portfolio_id, spec.venue, "sandbox", spec.credential_ref,
                    int(spec.history_start.timestamp() * 1000) if spec.history_start else None, spec.settings)
        assert len(first) == 5, first
        now_ms = int(time.time() * 1000)
        for venue, account in first.items():
            base = sandbox_api_base(sandbox.url, venue)
            over_http = make_exchange(venue, keys[account.account_id], sandbox_url=base, rate_limit=False)
            in_process = make_exchange(venue, keys[account.account_id], sandbox_url=base, rate_limit=False)
            in_process.session.mount("http://", InProcessVenue(sandbox.state))
            calls = sum(sandbox.state.stats.values())
            http_balance, http_pages = _read(over_http, account, now_ms)
            served_over_http = sum(sandbox.state.stats.values()) - calls
            local_balance, local_pages = _read(in_process, account, now_ms)
            assert local_balance == http_balance, venue
            assert local_pages == http_pages, venue
            assert any(rows for _, _, rows in http_pages), f"{venue}: {account.account_id} has trades in the demo"
            # the in-process client asked the sandbox as often as the HTTP one did, and never over the socket
            assert sum(sandbox.state.stats.values()) - calls == 2 * served_over_http, venue
