"""Which request budget an account's calls are charged to, and the metrics per budget: a venue that counts signed
calls per API key (Kraken) shows each key's own peak against the key's allowance, a per-IP venue (Binance) one."""

from __future__ import annotations

from pipelines.constants import PUBLIC_TENANT
from pipelines.services.calls import budget_charged
from pipelines.services.metrics import _api_families, venue_budget
from pipelines.sources.exchanges.venues import profile


def test_accounts_of_per_key_venues_are_charged_to_their_key() -> None:
    assert profile("kraken").private_budget_scope == "key"
    assert budget_charged("kraken", "acme-kraken") == "key:acme-kraken"
    assert budget_charged("kraken", PUBLIC_TENANT) == "venue"  # market data: the venue-wide budget
    assert profile("binance").private_budget_scope == "ip"
    assert budget_charged("binance", "acme-binance") == "venue"


def test_budget_use_is_per_key_where_the_venue_counts_per_key() -> None:
    rows = [("kraken", "key:a-kraken", 300, 2, 180), ("kraken", "key:b-kraken", 40, 0, 12),
            ("kraken", "venue", 10, 1, 4), ("binance", "venue", 500, 0, 300)]
    families = {f.name: f for f in _api_families(rows, lambda v, b: venue_budget(v, None, b))}
    use = {(s.labels["venue"], s.labels["budget"]): s.value for s in families["coinbook_api_budget_use_ratio"].samples}
    key_budget = profile("kraken").private_request_budget or profile("kraken").request_budget
    assert use[("kraken", "key:a-kraken")] == 180 / key_budget
    assert use[("kraken", "key:b-kraken")] == 12 / key_budget
    assert use[("binance", "venue")] == 300 / profile("binance").request_budget
    calls = {s.labels["venue"]: s.value for s in families["coinbook_api_calls_total"].samples}
    assert calls == {"kraken": 350, "binance": 500}  # calls stay per venue, every budget summed
    retries = {s.labels["venue"]: s.value for s in families["coinbook_api_retries_total"].samples}
    assert retries == {"kraken": 3, "binance": 0}


def test_an_override_applies_to_every_budget_of_the_venue() -> None:
    assert venue_budget("kraken", {"kraken": 60}, "key:a-kraken") == 60
    assert venue_budget("kraken", {"kraken": 60}) == 60
