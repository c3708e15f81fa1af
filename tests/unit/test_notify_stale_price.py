"""The stale-price decision (pipelines/domain/alerts.py stale_prices): a held asset's price is stale when it lags
the market clock — the freshest price anywhere — by more than the tenant's limit; never by the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipelines.domain.alerts import DEFAULT_STALE_PRICE, HeldPrice, stale_prices

WORLD_END = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)  # the sandbox's last tick; the wall clock is later


def held(tenant: str, asset: str, lag: timedelta | None, source: str = "ticker") -> HeldPrice:
    return HeldPrice(tenant, asset, None if lag is None else WORLD_END - lag, source,
                     None if lag is None else "binance", Decimal("1000.00"))


def test_a_world_that_stopped_in_the_past_is_not_stale() -> None:
    # Every price is months behind the wall clock but level with the market: nothing is stale.
    book = [held("acme", "BTC", timedelta(0)), held("acme", "ETH", timedelta(seconds=30))]
    assert stale_prices(book, {}, WORLD_END) == []


def test_the_asset_that_lags_the_market_by_more_than_the_limit_is_stale() -> None:
    book = [held("acme", "BTC", timedelta(0)), held("acme", "BNB", timedelta(minutes=61)),
            held("acme", "SOL", timedelta(minutes=60)),  # exactly the limit: not yet
            held("acme", "USDT", None, "usd_peg")]       # a peg has no time to age
    [alert] = stale_prices(book, {}, WORLD_END)
    assert (alert.tenant_id, alert.kind, alert.subject, alert.severity) == ("acme", "stale_price", "BNB", "warning")
    assert alert.details["age_s"] == 61 * 60 and alert.details["limit_s"] == DEFAULT_STALE_PRICE.total_seconds()
    assert alert.details["market_clock"] == WORLD_END.isoformat()
    assert "BNB price is 1.0 h behind the market" in alert.message and "from binance" in alert.message


def test_limits_are_per_tenant_and_a_long_lag_is_critical() -> None:
    book = [held("acme", "BNB", timedelta(minutes=20)), held("bluefin", "BNB", timedelta(minutes=20)),
            held("bluefin", "SOL", timedelta(hours=5))]
    alerts = stale_prices(book, {"acme": timedelta(minutes=15)}, WORLD_END)
    assert [(a.tenant_id, a.subject, a.severity) for a in alerts] == [
        ("acme", "BNB", "warning"),         # acme's own 15-minute limit
        ("bluefin", "SOL", "critical")]     # default 60 minutes; > 4× the limit


def test_no_prices_no_clock_no_alerts() -> None:
    assert stale_prices([held("acme", "BNB", timedelta(hours=3))], {}, None) == []
