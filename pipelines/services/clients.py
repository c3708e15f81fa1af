"""Hardened ccxt clients per account and per venue (the `exchanges` resource hands out an `ExchangeClients`).

- one markets load per venue and target, shared by every account (in memory within a process, on disk
  across processes and runs, with a TTL);
- every client retries transient failures with back-off (resilience.py) and is charged to its venue's
  request budget;
- credentials are resolved from the account's reference (services/credentials.py) and never logged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt

from pipelines.services.credentials import KeySources, resolve_credential_ref
from pipelines.sources.exchanges.client import Credentials, ExchangeAccount, make_exchange
from pipelines.sources.exchanges.public_cache import PublicCache
from pipelines.sources.exchanges.resilience import CallStats, RequestBudget, RetryPolicy, harden
from pipelines.sources.exchanges.venues import profile

# The local sandbox is not the venue: its pace is its own. ccxt's limiter stays on, at this pace.
SANDBOX_RATE_LIMIT_MS = 10
MARKETS_TTL_SECONDS = 3600.0  # market lists change rarely; one load per venue per hour is plenty
_markets_memory: dict[tuple[str, str | None], tuple[float, dict[str, Any], dict[str, Any], dict[str, Any]]] = {}
_budgets: dict[str, RequestBudget] = {}
_lock = threading.Lock()


def sandbox_api_base(sandbox_url: str, venue: str) -> str:
    """Binance answers at the sandbox's root; every other venue under /<venue>."""
    return sandbox_url.rstrip("/") if venue == "binance" else f"{sandbox_url.rstrip('/')}/{venue}"


def sandbox_credentials(sandbox_url: str) -> dict[str, Credentials]:
    """The demo keys the local sandbox publishes for its accounts."""
    with urllib.request.urlopen(f"{sandbox_url}/__sandbox/accounts", timeout=10) as response:
        published = json.load(response)
    keys = {a["account_id"]: Credentials(a["api_key"], a["secret"], a.get("password"))
            for a in published["accounts"] if "api_key" in a}  # wallets have no keys
    # each account's read-only key too, as `sandbox:<account>:read-only` (sandbox.world.READ_ONLY_SUFFIX)
    keys.update({f"{a['account_id']}:read-only": Credentials(a["read_only"]["api_key"], a["read_only"]["secret"],
                                                             a["read_only"].get("password"))
                 for a in published["accounts"] if "read_only" in a})
    return keys


def venue_budget(venue: str, limit: int | None, key: str | None = None) -> RequestBudget:
    """One budget per venue in this process (shared by every account of the venue), or, with `key`, one per
    API key of the venue (for venues that count signed calls per key). Only a digest of the key is kept."""
    name = venue if key is None else f"{venue}#{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    with _lock:
        budget = _budgets.get(name)
        if budget is None:
            budget = _budgets[name] = RequestBudget(limit)
        return budget


def budget_calls() -> dict[str, tuple[int | None, list[float]]]:
    """Every budget of this process: its limit and the times of its calls (time.monotonic, one clock for every
    process of the machine). A sync lane's process hands them back (pipelines/app/runner.py)."""
    with _lock:
        return {name: (b.limit, list(b.calls)) for name, b in _budgets.items()}


def merge_budget_calls(calls: dict[str, tuple[int | None, list[float]]]) -> None:
    """The calls another process of this run made (a sync lane's: budget_calls) charged here too, so that what
    runs next here (the market data run) spends only what is left of each venue's minute."""
    for name, (limit, times) in calls.items():
        with _lock:
            budget = _budgets.get(name)
            if budget is None:
                budget = _budgets[name] = RequestBudget(limit)
        budget.merge(times)


@dataclass(frozen=True)
class ExchangeClients:
    """`sandbox_url` is used for accounts whose mode is 'sandbox'; live accounts go to the real venue.

    `batching` / `caching` exist so the benchmark can measure what they save; leave them on.
    """

    sandbox_url: str | None = None
    database_url: str | None = None   # for `db:` credentials
    home: str = ".coinbook"           # the public-data cache lives here
    keys: KeySources = field(default_factory=KeySources)  # master keys and Vault, for db: and vault: credentials
    rate_limit: bool = True
    batching: bool = True
    caching: bool = True
    max_attempts: int = 6
    base_delay_s: float = 0.25
    timeout_ms: int = 10_000
    request_budget: int | None = None  # calls per venue per minute; None = the venue profile's figure

    # ── clients ─────────────────────────────────────────────────────────────────────────────────────
    def _target(self, venue: str, mode: str) -> str | None:
        if mode != "sandbox":
            return None
        if not self.sandbox_url:
            raise ValueError(f"a sandbox {venue} account needs the sandbox URL (COINBOOK_SANDBOX_URL)")
        return sandbox_api_base(self.sandbox_url, venue)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.base_delay_s)

    def _harden(self, exchange: ccxt.Exchange, stats: CallStats | None,
                credentials: Credentials | None = None) -> ccxt.Exchange:
        """Public calls are charged to the venue's budget; signed ones too, unless the venue counts them per API
        key (Kraken, Coinbase, HTX): then each key has its own, so twenty accounts of one venue do not share
        one key's allowance (found at 20 tenants: 9 of 19 Kraken accounts stopped cold on a shared budget)."""
        venue_profile = profile(exchange.id)
        budget = venue_budget(exchange.id, self.request_budget or venue_profile.request_budget)
        private = None
        if credentials is not None and venue_profile.private_budget_scope == "key":
            private = venue_budget(exchange.id, self.request_budget or venue_profile.key_request_budget,
                                   key=credentials.api_key)
        return harden(exchange, policy=self.policy(), budget=budget, private_budget=private, stats=stats)

    def public_client(self, venue: str, mode: str = "sandbox", stats: CallStats | None = None) -> ccxt.Exchange:
        return self._open(venue, mode, None, stats)

    def client(self, account: ExchangeAccount, stats: CallStats | None = None) -> ccxt.Exchange:
        sandbox_keys = None
        if account.credential_ref and account.credential_ref.startswith("sandbox:"):
            if not self.sandbox_url:
                raise ValueError(f"account {account.account_id} is a sandbox account but no sandbox URL is set")
            sandbox_keys = sandbox_credentials(self.sandbox_url)
        credentials = resolve_credential_ref(account.credential_ref, tenant_id=account.tenant_id,
                                             database_url=self.database_url, sources=self.keys,
                                             sandbox_credentials=sandbox_keys)
        return self._open(account.venue, account.mode, credentials, stats)

    def _open(self, venue: str, mode: str, credentials: Credentials | None, stats: CallStats | None) -> ccxt.Exchange:
        """A client of the venue (the sandbox or the real one), hardened and given the shared markets."""
        target = self._target(venue, mode)
        exchange = make_exchange(venue, credentials, sandbox_url=target, rate_limit=self.rate_limit,
                                 timeout_ms=self.timeout_ms, rate_limit_ms=SANDBOX_RATE_LIMIT_MS if target else None)
        self._harden(exchange, stats, credentials)
        self._share_markets(exchange, mode)
        return exchange

    # ── public data, loaded once and shared ─────────────────────────────────────────────────────────
    def public_cache(self) -> PublicCache:
        return PublicCache(Path(self.home) / "cache" / "public", enabled=self.caching)

    def _share_markets(self, exchange: ccxt.Exchange, mode: str) -> None:
        """Load markets once per venue (and target) and hand the same result to every client."""
        if not self.caching:
            exchange.load_markets()  # what a naive client does: every client loads them itself
            return
        target = self._target(exchange.id, mode)
        key = (exchange.id, target)
        with _lock:
            cached = _markets_memory.get(key)
            if cached is None or time.monotonic() - cached[0] > MARKETS_TTL_SECONDS:
                disk = self.public_cache()
                stored = disk.get("markets", f"{exchange.id}@{target}", MARKETS_TTL_SECONDS)
                if stored is not None:
                    markets, currencies = stored["markets"], stored["currencies"]
                    learned = stored.get("options", {})
                else:
                    before = copy.deepcopy(exchange.options)
                    markets = exchange.load_markets()
                    currencies = exchange.currencies or {}
                    learned = _learned_options(before, exchange.options)
                    disk.put("markets", f"{exchange.id}@{target}",
                             {"markets": markets, "currencies": currencies, "options": learned})
                cached = (time.monotonic(), markets, currencies, learned)
                _markets_memory[key] = cached
        exchange.options.update(copy.deepcopy(cached[3]))
        exchange.set_markets(cached[1], cached[2] or None)


def _learned_options(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What load_markets taught the client beyond markets and currencies (HTX's chain names, Kraken's pair
    altnames): a client given cached markets needs it too. Only JSON-able values are kept."""
    learned = {}
    for name, value in after.items():
        if before.get(name) != value:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            learned[name] = value
    return learned


def clear_markets_cache(home: Path | None = None) -> None:
    """Forget shared markets (tests, benchmarks): in memory, and on disk under `home` when given."""
    with _lock:
        _markets_memory.clear()
        _budgets.clear()
    if home is not None:
        PublicCache(home / "cache" / "public").clear()
