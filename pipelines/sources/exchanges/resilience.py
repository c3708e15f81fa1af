"""Talking to venues that fail: retries with back-off, garbled bodies, a request budget, call counting.

`harden(exchange, ...)` wraps one ccxt client in place:
- `fetch2` (sign + send) is retried on ccxt's transient errors (OperationFailed: 429/418, 5xx, timeouts,
  connection resets, bad nonces) and on garbled bodies. Each attempt re-signs the request, so nonce-based
  venues (Kraken, Bitfinex) never see a nonce twice. A 429's `Retry-After` is honoured; otherwise the delay
  grows exponentially with jitter.
- `fetch` (the HTTP call) is counted, charged to the request budget (a signed call to `private_budget` when
  the venue counts them per key), and checked: a 200 whose JSON body does
  not parse (cut off mid-stream, HTML from a proxy) raises `GarbledResponse` instead of handing a string to
  ccxt's parsers, which would crash somewhere deep with a TypeError.
When the retries are used up the last error propagates: the caller quarantines a garbled body and fails only
that account's sync, which the next tick retries from the last committed cursor.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import ccxt


class GarbledResponse(ccxt.BadResponse):
    """A response that should be JSON but does not parse. Keeps the body for the quarantine."""

    def __init__(self, url: str, status: int | None, body: str) -> None:
        super().__init__(f"unparseable JSON ({len(body)} bytes) from {_without_query(url)}")
        self.url = _without_query(url)
        self.status = status
        self.body = body

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()


class BudgetExhausted(ccxt.ExchangeError):
    """The venue's request budget for this window is spent: stop here, resume on the next tick."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6             # first try included
    base_delay_s: float = 0.25
    max_delay_s: float = 20.0
    max_retry_after_s: float = 120.0  # a venue asking for longer is treated as down for this tick


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]  # query strings carry signatures and timestamps: never keep them


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after_s: float | None = None,
                  jitter: float = 0.5) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 1).

    The venue's own Retry-After wins (it knows its window); else exponential back-off with "equal jitter"
    (half fixed, half random), so many clients that failed together do not retry in lockstep.
    """
    if retry_after_s is not None:
        return min(retry_after_s, policy.max_retry_after_s)
    ceiling = min(policy.max_delay_s, policy.base_delay_s * (2 ** (attempt - 1)))
    return ceiling / 2 + ceiling / 2 * min(max(jitter, 0.0), 1.0)


def is_transient(error: BaseException, status: int | None) -> bool:
    """Worth retrying: ccxt's OperationFailed family (network, 429, 5xx, bad nonce, bad body), or any error
    on a 5xx/429 status that a venue-specific parser classified as something else."""
    if isinstance(error, BudgetExhausted):
        return False
    if isinstance(error, ccxt.OperationFailed):
        return True
    return status is not None and (status == 429 or status >= 500)


@dataclass
class RequestBudget:
    """At most `limit` HTTP calls per rolling `window_s` (None: unlimited), shared by every client of one venue
    in a process. ccxt's limiter paces single requests; the budget caps what a whole sync may spend, so a
    runaway pagination or a retry storm cannot burn the key's quota: the sync stops at its last committed
    page and the next tick resumes it."""

    limit: int | None = None
    window_s: float = 60.0
    calls: deque[float] = field(default_factory=deque)
    # the check and the charge as one step, and a merge of another process's calls (runner.py's sync lanes) whole
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def charge(self, venue: str, now: float | None = None) -> None:
        if self.limit is None:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            while self.calls and now - self.calls[0] >= self.window_s:
                self.calls.popleft()
            if len(self.calls) >= self.limit:
                raise BudgetExhausted(
                    f"{venue}: request budget of {self.limit} calls per {self.window_s:.0f} s is spent")
            self.calls.append(now)

    def merge(self, times: list[float]) -> None:
        """Calls made elsewhere (another process's copy of this budget, forked from this one: the times they share
        are counted once)."""
        with self._lock:
            self.calls = deque(sorted(set(self.calls) | set(times)))


@dataclass
class CallStats:
    """What one client did on the wire: for ops.sync_log, the metadata and the API-cost benchmark."""

    calls: int = 0
    retries: int = 0
    garbled: int = 0
    waited_s: float = 0.0
    by_path: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def is_private_api(api: Any) -> bool:
    """Whether ccxt's `api` argument of fetch2 names a private family ('private', ['v3', 'private'], 'v2Private'):
    how Kraken, Coinbase and HTX, the venues that count signed calls per key, name theirs. (Binance's signed
    `sapi` is not recognised, and need not be: Binance counts every call per IP.)"""
    parts = api if isinstance(api, list | tuple) else [api]
    return any("private" in str(part).lower() for part in parts)


def harden(exchange: ccxt.Exchange, *, policy: RetryPolicy | None = None, budget: RequestBudget | None = None,
           private_budget: RequestBudget | None = None, stats: CallStats | None = None,
           sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> ccxt.Exchange:
    """Wrap the client's fetch/fetch2 in place (see the module docstring). Returns the same client."""
    policy = policy or RetryPolicy()
    stats = stats if stats is not None else CallStats()
    rng = rng or random.Random()
    last: dict[str, Any] = {"status": None, "headers": {}}
    original_fetch, original_fetch2 = exchange.fetch, exchange.fetch2
    original_on_rest = exchange.on_rest_response

    def on_rest_response(code: Any, reason: Any, url: Any, method: Any, response_headers: Any,
                         response_body: Any, request_headers: Any, request_body: Any) -> Any:
        last["status"], last["headers"] = int(code), response_headers or {}
        return original_on_rest(code, reason, url, method, response_headers, response_body, request_headers,
                                request_body)

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        charged = private_budget if last.get("private") and private_budget is not None else budget
        if charged is not None:
            charged.charge(exchange.id)
        stats.calls += 1
        path = _without_query(url)
        stats.by_path[path] = stats.by_path.get(path, 0) + 1
        last["status"], last["headers"] = None, {}
        response = original_fetch(url, method, headers, body)
        if isinstance(response, str | bytes):
            text = response.decode("utf-8", "replace") if isinstance(response, bytes) else response
            stats.garbled += 1
            raise GarbledResponse(url, last["status"], text)
        return response

    def fetch2(path: Any, api: Any = "public", method: str = "GET", params: Any = None,
               config: Any = None) -> Any:
        params = {} if params is None else params
        config = {} if config is None else config
        last["private"] = is_private_api(api)
        for attempt in range(1, policy.max_attempts + 1):
            try:
                return original_fetch2(path, api, method, params, config)
            except Exception as error:
                status = last["status"]
                name = type(error).__name__
                stats.errors[name] = stats.errors.get(name, 0) + 1
                if attempt >= policy.max_attempts or not is_transient(error, status):
                    raise
                retry_after = None
                if status == 429 or isinstance(error, ccxt.DDoSProtection):
                    headers = last["headers"] or {}
                    retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
                    if retry_after is not None and retry_after > policy.max_retry_after_s:
                        raise
                delay = backoff_delay(attempt, policy, retry_after, rng.random())
                stats.retries += 1
                stats.waited_s += delay
                sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    exchange.on_rest_response = on_rest_response  # type: ignore[method-assign]
    exchange.fetch = fetch  # type: ignore[method-assign]
    exchange.fetch2 = fetch2  # type: ignore[method-assign]
    return exchange
