"""One factory for ccxt clients: the same code path for the sandbox and for real venues.

In sandbox mode only the scheme and host of every `urls['api']` entry are rewritten, so ccxt's own
request signing and response parsing run unchanged against the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt

from pipelines.sources.exchanges.venues import profile


class CredentialError(RuntimeError):
    """A credential reference that cannot be resolved. The message never contains a secret."""


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str
    password: str | None = None

    def __repr__(self) -> str:  # never print secrets, even by accident in a traceback
        return f"Credentials(api_key={self.api_key[:4]}…, secret=***)"


@dataclass(frozen=True)
class ExchangeAccount:
    """What the connector needs to know about one account (a row of ops.accounts)."""

    tenant_id: str
    account_id: str
    portfolio_id: str
    venue: str
    mode: str  # 'sandbox' | 'live'
    credential_ref: str | None
    history_start_ms: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def partition_key(self) -> str:
        return partition_key(self.tenant_id, self.account_id)


def partition_key(tenant_id: str, account_id: str) -> str:
    return f"{tenant_id}.{account_id}"


def split_partition_key(key: str) -> tuple[str, str]:
    tenant_id, _, account_id = key.partition(".")
    if not tenant_id or not account_id:
        raise ValueError(f"not an account partition key (tenant.account): {key!r}")
    return tenant_id, account_id


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Point every API URL (nested dicts/strings) at base_url: its scheme and host, its path as a prefix
    of the original path ('https://api.kraken.com/0' → 'http://127.0.0.1:8765/kraken/0')."""
    if isinstance(urls, dict):
        return {k: rewrite_api_urls(v, base_url) for k, v in urls.items()}
    if isinstance(urls, str) and urls.startswith(("http://", "https://")):
        target = urlsplit(base_url)
        parts = urlsplit(urls)
        return urlunsplit((target.scheme, target.netloc, target.path.rstrip("/") + parts.path, parts.query,
                           parts.fragment))
    return urls


def make_exchange(
    venue: str,
    credentials: Credentials | None = None,
    *,
    sandbox_url: str | None = None,
    rate_limit: bool = True,
    timeout_ms: int = 10_000,
    options: dict[str, Any] | None = None,
    rate_limit_ms: int | None = None,
) -> ccxt.Exchange:
    """A configured ccxt client. `sandbox_url` set → talk to the local sandbox instead of the venue."""
    if venue not in ccxt.exchanges:
        raise ValueError(f"unknown ccxt exchange id {venue!r}")
    config: dict[str, Any] = {
        "enableRateLimit": rate_limit,
        "timeout": timeout_ms,
        "options": dict(profile(venue).options if options is None else options),
    }
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms  # the pace ccxt's limiter keeps (ms per request of cost 1)
    if credentials is not None:
        config["apiKey"] = credentials.api_key
        config["secret"] = credentials.secret
        if credentials.password:
            config["password"] = credentials.password
    exchange: ccxt.Exchange = getattr(ccxt, venue)(config)
    exchange.number = str  # amounts as exact strings → Decimal; never float for money
    # The venue's own JSON of the last response: cursors ccxt does not surface (Coinbase's next_starting_after)
    # and native klines for the raw payload. ccxt keeps it only when asked.
    exchange.enableLastJsonResponse = True
    if sandbox_url:
        exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], sandbox_url)
    return exchange
