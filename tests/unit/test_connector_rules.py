"""Pure rules of the connector: back-off, windows and gaps, identities of untimed records, credentials at rest,
freshness. No I/O (the integration tests drive the same code against the sandbox and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt
import pytest

from pipelines.domain.alerts import SourceState, freshness_limit, stale_sources
from pipelines.services.credentials import MasterKey, key_by_id, redact, seal, unseal
from pipelines.sources.exchanges.client import CredentialError, Credentials, ExchangeAccount, rewrite_api_urls
from pipelines.sources.exchanges.normalise import normalise_balances, normalise_ticker, snapshot_digest
from pipelines.sources.exchanges.public_cache import PublicCache
from pipelines.sources.exchanges.resilience import (
    BudgetExhausted,
    GarbledResponse,
    RequestBudget,
    RetryPolicy,
    backoff_delay,
    is_transient,
    parse_retry_after,
)
from pipelines.sources.exchanges.sync import DAY_MS, _complete_window, history_start
from pipelines.sources.exchanges.venues import profile


# ── back-off ─────────────────────────────────────────────────────────────────────────────────────────────
def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8, max_retry_after_s=30)
    assert backoff_delay(1, policy, retry_after_s=7) == 7
    assert backoff_delay(1, policy, retry_after_s=300) == 30
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
                             .timestamp()) == 30
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_exponential_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8)
    lows = [backoff_delay(n, policy, jitter=0.0) for n in range(1, 8)]
    highs = [backoff_delay(n, policy, jitter=1.0) for n in range(1, 8)]
    assert lows == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert highs == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_what_is_worth_retrying() -> None:
    assert is_transient(ccxt.RateLimitExceeded("429"), 429)
    assert is_transient(ccxt.RequestTimeout("slow"), None)
    assert is_transient(GarbledResponse("http://x/y?signature=s", 200, '{"a": '), 200)
    assert is_transient(ccxt.ExchangeError("venue-specific 5xx body"), 503)  # a 5xx is transient whatever ccxt says
    assert not is_transient(ccxt.AuthenticationError("bad key"), 401)
    assert not is_transient(BudgetExhausted("spent"), None)


def test_garbled_response_forgets_the_query_string() -> None:
    error = GarbledResponse("http://venue/api/v3/myTrades?timestamp=1&signature=deadbeef", 200, "[{")
    assert "signature" not in str(error) and error.url == "http://venue/api/v3/myTrades"


def test_request_budget_stops_at_its_limit() -> None:
    budget = RequestBudget(3)
    for _ in range(3):
        budget.charge("kraken")
    with pytest.raises(BudgetExhausted, match="budget of 3"):
        budget.charge("kraken")
    RequestBudget(None).charge("kraken")  # unlimited


# ── windows, gaps, sandbox URLs ──────────────────────────────────────────────────────────────────────────
def test_a_full_page_is_split_until_every_window_is_complete() -> None:
    t0 = 1_750_000_000_000
    records = [{"id": i, "timestamp": t0 + i * 7_000} for i in range(230)]
    calls: list[tuple[int, int]] = []

    def newest_first(lower: int, upper: int) -> list[dict]:  # a venue that cuts from the old end, like Kraken
        calls.append((lower, upper))
        inside = [r for r in records if lower <= r["timestamp"] <= upper]
        return sorted(inside, key=lambda r: -r["timestamp"])[:50]

    got = _complete_window(newest_first, t0 - 5_000, t0 + 2_000_000, 50)
    assert sorted(r["id"] for r in got) == list(range(230))
    assert len(calls) > 5


def test_history_window_of_the_venue_becomes_a_recorded_gap() -> None:
    htx = profile("htx")
    opened = 1_748_736_000_000  # 2025-06-01
    account = ExchangeAccount("t", "a", "p", "htx", "live", None, history_start_ms=opened)
    now = opened + 400 * DAY_MS
    start, gaps = history_start(htx, account, None, 0, now, "trades", htx.trade_history_limit_ms)
    assert start == now - 120 * DAY_MS
    assert len(gaps) == 1 and gaps[0].start_ms == opened and gaps[0].end_ms == start - 1 and "CSV" in gaps[0].reason
    # a later sync resumes at its cursor (less the look-back) and records nothing
    start, gaps = history_start(htx, account, {"until_ms": now - DAY_MS}, 600_000, now, "trades",
                                htx.trade_history_limit_ms)
    assert start == now - DAY_MS + 1 - 600_000 and gaps == []


def test_sandbox_urls_keep_the_venue_path_under_the_sandbox_prefix() -> None:
    urls = {"public": "https://api.kraken.com", "private": "https://api.kraken.com/0", "doc": "not a url"}
    assert rewrite_api_urls(urls, "http://127.0.0.1:8765/kraken") == {
        "public": "http://127.0.0.1:8765/kraken", "private": "http://127.0.0.1:8765/kraken/0", "doc": "not a url"}


# ── identities of records a venue does not time-stamp ────────────────────────────────────────────────────
def test_an_untimed_balance_snapshot_is_identified_by_its_amounts() -> None:
    balance = {"info": {}, "BTC": {"free": "1.5", "used": "0", "total": "1.5"},
               "USD": {"free": "10", "used": "0", "total": "10"}}
    def rows(snapshot: dict, fetched_ms: int) -> list[dict]:
        return normalise_balances(snapshot, tenant_id="t", account_id="a", source="kraken", run_id=None,
                                  fetched_ms=fetched_ms)

    first, again = rows(balance, 1_750_000_000_000), rows(balance, 1_750_000_009_000)
    moved = rows({**balance, "BTC": {"free": "1.4", "used": "0", "total": "1.4"}}, 1_750_000_009_000)
    assert snapshot_digest(first) == snapshot_digest(again) != snapshot_digest(moved)
    assert first[0]["observed_at"] == datetime.fromtimestamp(1_750_000_000, UTC)
    timed = normalise_balances({**balance, "timestamp": 1_750_000_005_000}, tenant_id="t", account_id="a", source="x",
                               run_id=None, fetched_ms=1_750_000_009_000)
    assert snapshot_digest(timed) is None and timed[0]["source_record_id"] == "BTC@1750000005000"


def test_an_untimed_ticker_is_identified_by_its_quote() -> None:
    quote = {"symbol": "BTC/USD", "last": "100", "bid": "99", "ask": "101", "timestamp": None}
    a = normalise_ticker(quote, source="kraken", run_id=None, fetched_ms=1_750_000_000_000)
    b = normalise_ticker(quote, source="kraken", run_id=None, fetched_ms=1_750_000_002_000)
    c = normalise_ticker({**quote, "last": "102"}, source="kraken", run_id=None, fetched_ms=1_750_000_002_000)
    assert a["source_record_id"] == b["source_record_id"] != c["source_record_id"]
    assert a["observed_at"] is not None


# ── credentials at rest ──────────────────────────────────────────────────────────────────────────────────
def test_sealed_credentials_open_only_with_their_key_tenant_and_name() -> None:
    key, other = MasterKey.generate(), MasterKey.generate()
    creds = Credentials("AKIA-demo-key", "s3cr3t-value-that-must-not-leak", "pass-phrase")
    nonce, box = seal(creds, key, "acme", "acme-kraken")
    assert b"s3cr3t" not in box and b"AKIA" not in box
    assert unseal(nonce, box, key, "acme", "acme-kraken") == creds
    for args in ((other, "acme", "acme-kraken"), (key, "bluefin", "acme-kraken"), (key, "acme", "acme-binance")):
        with pytest.raises(CredentialError, match="does not decrypt"):
            unseal(nonce, box, *args)
    assert key_by_id([other, key], key.key_id) is key
    assert MasterKey.parse(key.encoded()) == key
    with pytest.raises(CredentialError):
        MasterKey.parse("dG9vIHNob3J0")
    assert "s3cr3t" not in repr(creds) and "s3cr3t" not in repr(key)


def test_redaction_removes_keys_and_secrets() -> None:
    creds = Credentials("public-key-123", "very-secret-456")
    assert redact("failed with very-secret-456 and public-key-123", [creds]) == "failed with *** and ***"


def test_public_cache_expires_and_is_per_key(tmp_path: Path) -> None:
    cache = PublicCache(tmp_path)
    cache.put("markets", "kraken@http://sbx", {"BTC/USD": {"id": "XXBTZUSD"}})
    assert cache.get("markets", "kraken@http://sbx", ttl_s=60) == {"BTC/USD": {"id": "XXBTZUSD"}}
    assert cache.get("markets", "kraken@live", ttl_s=60) is None
    assert cache.get("markets", "kraken@http://sbx", ttl_s=-1) is None
    assert PublicCache(tmp_path, enabled=False).get("markets", "kraken@http://sbx", ttl_s=60) is None


# ── freshness ────────────────────────────────────────────────────────────────────────────────────────────
def test_stale_sources_use_the_most_specific_limit() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    states = [SourceState("acme", "acme-kraken", "kraken", "balances", now - timedelta(minutes=20), None),
              SourceState("acme", "acme-kraken", "kraken", "trades", now - timedelta(hours=5), None),
              SourceState("acme", "acme-htx", "htx", "trades", None, "ExchangeNotAvailable: 503")]
    limits = {("*", "kraken", "*", "balances"): timedelta(minutes=15)}
    defaults = {venue: timedelta(seconds=profile(venue).freshness_limit_s) for venue in ("kraken", "htx")}
    assert freshness_limit(limits, defaults["kraken"], "acme", "kraken", "acme-kraken", "trades") == timedelta(hours=3)
    stale = stale_sources(states, limits, defaults, now)
    assert [(s.state.account_id, s.state.endpoint) for s in stale] == [
        ("acme-kraken", "balances"), ("acme-kraken", "trades"), ("acme-htx", "trades")]
    assert "never synced" in stale[2].message and "503" in stale[2].message
