"""The dialects' per-account views (World.memo: sorted, rendered rows built once per state of the account) follow the
world: a page after new activity holds it, and a view is rebuilt only when its own account changed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox import bitfinex, coinbase, htx, kraken
from sandbox.world import END_MS, MARKET_BY_VENUE_SYMBOL, World


def _htx_clock_by_scan(world: World) -> int:
    """HTX's clock as it was computed before the world kept its latest trade: a scan of every HTX account."""
    latest = max((t.time_ms for a in world.venue_accounts("htx") for t in world.trades[a.account_id]), default=END_MS)
    return max(END_MS, latest + 1000)


def test_pages_follow_new_activity_and_only_their_account_rebuilds() -> None:
    world = World()
    before = kraken.trades_history(world, "acme-kraken", {}, False)["count"]
    newest = coinbase.fills(world, "acme-coinbase", "limit=1", False)["fills"][0]["trade_id"]
    assert htx.clock_ms(world) == _htx_clock_by_scan(world)

    world.advance_day(1, now_ms=END_MS + 86_400_000)

    assert kraken.trades_history(world, "acme-kraken", {}, False)["count"] == len(world.trades["acme-kraken"]) > before
    assert coinbase.fills(world, "acme-coinbase", "limit=1", False)["fills"][0]["trade_id"] == str(
        world.trades["acme-coinbase"][-1].id) != newest
    assert htx.clock_ms(world) == _htx_clock_by_scan(world) > END_MS + 1000
    assert bitfinex.trades_hist(world, "bluefin-bitfinex", None, {"limit": 1}, False)[0][0] == (
        world.trades["bluefin-bitfinex"][-1].id)
    # a fill booked on another account leaves this account's view as it was built
    market = MARKET_BY_VENUE_SYMBOL[("kraken", "XXBTZUSD")]
    world.book_fill("acme-kraken", market, True, Decimal("60000"), Decimal("0.001"), Decimal("0.1"), "USD", 1, False,
                    END_MS + 2 * 86_400_000)
    world.memo(("bitfinex.trades", "bluefin-bitfinex", None, False, False, False), "bluefin-bitfinex",
               lambda: pytest.fail("bluefin-bitfinex's view was rebuilt for a fill of acme-kraken"))
    assert kraken.trades_history(world, "acme-kraken", {}, False)["count"] == len(world.trades["acme-kraken"])
