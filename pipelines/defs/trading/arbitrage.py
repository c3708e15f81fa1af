"""Cross-venue arbitrage detection (issue 18 §3) as an asset: a few lines around services/arbitrage.py. Detection
only: nothing is traded on what it finds."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.services.arbitrage import scan_all, watched_coins
from pipelines.settings import CoinbookSettings


def build_assets(settings: CoinbookSettings) -> list[dg.AssetsDefinition]:
    coins = watched_coins(settings.arbitrage_coins)

    @dg.asset(
        name="arbitrage_scan", group_name="trading", kinds={"python", "postgres"},
        deps=[dg.AssetKey("int_exchange_transfers")],
        description="Every tenant's venues' order books (ccxt fetch_order_book; coins: COINBOOK_ARBITRAGE_COINS) "
                    "compared pair by pair: the gaps that pay after both taker fees and the withdrawal fees of "
                    "moving the coins and the quote, with the depth they hold, in ops.arbitrage_observations "
                    "(marts.arbitrage_opportunities merges consecutive scans); an edge over the tenant's threshold "
                    "(ops.arbitrage_settings, default 50 bps) is an arbitrage_opportunity alert. Detection only.",
    )
    def arbitrage_scan(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       exchanges: ExchangeResource) -> dg.MaterializeResult:
        scans, problems = scan_all(warehouse.get(), exchanges.get(), coins, datetime.now(UTC))
        for problem in problems:
            context.log.warning(problem)
        return dg.MaterializeResult(metadata={
            "tenants": len(scans), "opportunities": sum(len(s.found) for s in scans),
            "alerts": sum(len(s.alerted) for s in scans), "problems": problems})

    return [arbitrage_scan]
