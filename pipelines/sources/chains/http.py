"""HTTP for the chain sources (Esplora, Etherscan-style explorers, JSON-RPC): JSON with retries.

Same rules as the exchange connector (resilience.py): 429/5xx/timeouts/garbled bodies are retried with
exponential back-off and jitter, a Retry-After is honoured, every call is counted; the last error propagates
and fails only that account's sync.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from pipelines.sources.exchanges.resilience import RetryPolicy, backoff_delay, parse_retry_after


class ChainSourceError(Exception):
    """A chain API that kept failing or answered with an error, with the reason (no secrets: URLs are
    reported without their query string, which may carry an API key)."""


@dataclass
class JsonHttp:
    base_url: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 15.0
    min_interval_s: float = 0.0  # the provider's pace (e.g. Etherscan free tier: 5 calls/s → 0.2)
    calls: int = 0
    retries: int = 0
    _last: float = 0.0
    _session: requests.Session = field(default_factory=requests.Session)

    def _pace(self) -> None:
        wait = self._last + self.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Any = None, text: bool = False) -> Any:
        url = self.base_url.rstrip("/") + path
        last_error = ""
        for attempt in range(1, self.policy.max_attempts + 1):
            self._pace()
            self.calls += 1
            retry_after: float | None = None
            try:
                response = self._session.request(method, url, params=params, json=body, timeout=self.timeout_s)
                if response.status_code == 429 or response.status_code >= 500:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    last_error = f"HTTP {response.status_code}"
                elif response.status_code >= 400:
                    raise ChainSourceError(f"{method} {url}: HTTP {response.status_code}: {response.text[:200]}")
                elif text:
                    return response.text
                else:
                    try:
                        return json.loads(response.text)
                    except json.JSONDecodeError:
                        last_error = f"unparseable JSON ({len(response.text)} bytes)"
            except requests.RequestException as exc:
                last_error = f"{type(exc).__name__}"
            if attempt == self.policy.max_attempts:
                break
            self.retries += 1
            time.sleep(backoff_delay(attempt, self.policy, retry_after, jitter=random.random()))
        raise ChainSourceError(f"{method} {url}: gave up after {self.policy.max_attempts} attempts ({last_error})")
