"""Pure rules of the sync: URL rewriting, credential references, symbol discovery, time windows."""

from __future__ import annotations

import pytest

from pipelines.services.credentials import resolve_credentials
from pipelines.sources.exchanges.client import (
    CredentialError,
    Credentials,
    make_exchange,
    rewrite_api_urls,
    split_partition_key,
)
from pipelines.sources.exchanges.sync import _windows, discover_symbols


def test_rewrite_keeps_paths_and_nesting() -> None:
    urls = {"public": "https://api.binance.com/api/v3", "sapi": "https://api.binance.com/sapi/v1",
            "nested": {"rest": "https://api.coinbase.com/v2"}, "other": 42}
    out = rewrite_api_urls(urls, "http://127.0.0.1:8765")
    assert out == {"public": "http://127.0.0.1:8765/api/v3", "sapi": "http://127.0.0.1:8765/sapi/v1",
                   "nested": {"rest": "http://127.0.0.1:8765/v2"}, "other": 42}


def test_factory_points_every_api_url_at_the_sandbox_and_uses_exact_numbers() -> None:
    exchange = make_exchange("binance", Credentials("k", "s"), sandbox_url="http://127.0.0.1:9")
    assert all(v.startswith("http://127.0.0.1:9/") for v in exchange.urls["api"].values() if isinstance(v, str))
    assert exchange.number is str and exchange.apiKey == "k"
    live = make_exchange("binance")
    assert live.urls["api"]["public"].startswith("https://api.binance.com")
    with pytest.raises(ValueError, match="unknown ccxt exchange"):
        make_exchange("not-a-venue")


def test_credentials_by_reference_never_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINBOOK_SECRET_ACME_MAIN_API_KEY", "abcd1234")
    monkeypatch.setenv("COINBOOK_SECRET_ACME_MAIN_SECRET", "very-secret-value")
    creds = resolve_credentials("env:acme-main")
    assert creds.secret == "very-secret-value" and "very-secret-value" not in repr(creds)
    with pytest.raises(CredentialError) as missing:
        resolve_credentials("env:nobody")
    assert "COINBOOK_SECRET_NOBODY_API_KEY" in str(missing.value)
    with pytest.raises(CredentialError):
        resolve_credentials("plaintext-key")
    with pytest.raises(CredentialError):
        resolve_credentials("sandbox:acme", {})


def test_partition_keys() -> None:
    assert split_partition_key("acme.acme-binance-main") == ("acme", "acme-binance-main")
    with pytest.raises(ValueError):
        split_partition_key("no-dot")


MARKETS = {
    "BTC/USDT": {"base": "BTC", "quote": "USDT", "spot": True, "active": True},
    "ETH/BTC": {"base": "ETH", "quote": "BTC", "spot": True, "active": True},
    "SOL/USDT": {"base": "SOL", "quote": "USDT", "spot": True, "active": True},
    "DOGE/TRY": {"base": "DOGE", "quote": "TRY", "spot": True, "active": True},
    "XRP/ETH": {"base": "XRP", "quote": "ETH", "spot": True, "active": False},
    "BTC/USDT:USDT": {"base": "BTC", "quote": "USDT", "spot": False, "type": "swap"},
}


def test_symbol_discovery_only_asks_for_markets_the_account_could_have_traded() -> None:
    assert discover_symbols(MARKETS, {"BTC", "ETH", "USDT"}) == ["BTC/USDT", "ETH/BTC"]
    assert discover_symbols(MARKETS, {"SOL"}) == ["SOL/USDT"]  # common quotes need not be held
    assert discover_symbols(MARKETS, {"XRP"}) == []  # its only market is inactive
    assert discover_symbols(MARKETS, {"ETH"}) == ["ETH/BTC"]  # BTC is a common quote
    assert discover_symbols(MARKETS, set(), ["DOGE/TRY", "NOPE/USD"]) == ["DOGE/TRY"]


def test_windows_cover_the_range_without_gaps_or_overlap() -> None:
    windows = list(_windows(0, 250, 100))
    assert windows == [(0, 99), (100, 199), (200, 250)]
    assert list(_windows(10, 10, 100)) == []
