"""Dagster resource that hands out ccxt clients per account, sharing one markets load per venue."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import ccxt
from dagster import ConfigurableResource

from pipelines.sources.exchanges.client import (
    Credentials,
    ExchangeAccount,
    make_exchange,
    resolve_credentials,
)

MARKETS_TTL_SECONDS = 3600.0  # market lists change rarely; one load per venue per hour is plenty
_markets_cache: dict[tuple[str, str | None], tuple[float, dict[str, Any], dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def sandbox_credentials(sandbox_url: str) -> dict[str, Credentials]:
    """The demo keys the local sandbox publishes for its accounts."""
    with urllib.request.urlopen(f"{sandbox_url}/__sandbox/accounts", timeout=10) as response:
        published = json.load(response)
    return {a["account_id"]: Credentials(a["api_key"], a["secret"]) for a in published["accounts"]}


class ExchangeResource(ConfigurableResource):
    """`sandbox_url` is used for accounts whose mode is 'sandbox'; live accounts go to the real venue."""

    sandbox_url: str | None = None
    rate_limit: bool = True

    def _target(self, mode: str) -> str | None:
        return self.sandbox_url if mode == "sandbox" else None

    def public_client(self, venue: str, mode: str = "sandbox") -> ccxt.Exchange:
        exchange = make_exchange(venue, sandbox_url=self._target(mode), rate_limit=self.rate_limit)
        self._share_markets(exchange, mode)
        return exchange

    def client(self, account: ExchangeAccount) -> ccxt.Exchange:
        sandbox_keys = None
        if account.credential_ref and account.credential_ref.startswith("sandbox:"):
            if not self.sandbox_url:
                raise ValueError(f"account {account.account_id} is a sandbox account but no sandbox URL is set")
            sandbox_keys = sandbox_credentials(self.sandbox_url)
        credentials = resolve_credentials(account.credential_ref, sandbox_keys)
        exchange = make_exchange(account.venue, credentials, sandbox_url=self._target(account.mode),
                                 rate_limit=self.rate_limit)
        self._share_markets(exchange, account.mode)
        return exchange

    def _share_markets(self, exchange: ccxt.Exchange, mode: str) -> None:
        """Load markets once per venue (and target) and hand the same result to every client."""
        key = (exchange.id, self._target(mode))
        with _cache_lock:
            cached = _markets_cache.get(key)
            if cached is None or time.monotonic() - cached[0] > MARKETS_TTL_SECONDS:
                markets = exchange.load_markets()
                _markets_cache[key] = (time.monotonic(), markets, exchange.currencies or {})
                return
        exchange.set_markets(cached[1], cached[2] or None)


def clear_markets_cache() -> None:
    with _cache_lock:
        _markets_cache.clear()
