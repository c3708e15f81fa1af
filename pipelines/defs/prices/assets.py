"""Market data as assets: per venue the latest tickers and the candles of every market that prices an asset some
client holds (fetched once for all clients; a failing venue fails nothing, prices fall back to the others), and
price ticks loaded from files. A few lines each around services/prices.py."""

from pathlib import Path

import dagster as dg

from pipelines.constants import raw_asset_name
from pipelines.defs.common import WarehouseResource, nothing_to_do, sync_metadata
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.services.imports import file_away, file_sha256
from pipelines.services.prices import load_tick_file, sync_candles, sync_tickers

MARKET_TAG = "coinbook/market_data"  # tickers | candles: what the market-data jobs select


def build_market_assets(venue: str, minute_hours: int) -> list[dg.AssetsDefinition]:
    deps = [raw_asset_name(venue, "balances"), raw_asset_name(venue, "trades")]

    @dg.asset(name=raw_asset_name(venue, "tickers"), group_name="ingest", kinds={"python", "postgres"}, deps=deps,
              tags={MARKET_TAG: "tickers"},
              description=f"Latest {venue} tickers for every asset any client holds: one batched call.")
    def tickers(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                exchanges: ExchangeResource) -> dg.MaterializeResult:
        call = sync_tickers(warehouse.get(), exchanges.get(), venue, context.run_id)
        if call is None:
            return nothing_to_do(f"no {venue} accounts: nothing to price")
        return dg.MaterializeResult(metadata=sync_metadata(call.summary()))

    @dg.asset(name=raw_asset_name(venue, "ohlcv"), group_name="ingest", kinds={"python", "postgres"}, deps=deps,
              tags={MARKET_TAG: "candles"},
              description=f"Candles from {venue} for every asset any client holds, closed candles only: 1d over the "
                          f"whole history, 1m over the last {minute_hours} hours.")
    def ohlcv(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              exchanges: ExchangeResource) -> dg.MaterializeResult:
        call = sync_candles(warehouse.get(), exchanges.get(), venue, context.run_id, minute_hours)
        if call is None:
            return nothing_to_do(f"no {venue} accounts: nothing to price")
        return dg.MaterializeResult(metadata=sync_metadata(call.summary()))

    return [tickers, ohlcv]


class TickFileConfig(dg.Config):
    path: str
    source: str | None = None  # the venue of rows without a venue column


@dg.asset(name="raw_price_ticks", group_name="ingest", kinds={"python", "postgres"},
          description="Price ticks from files (CSV or Parquet: venue, symbol, observed_at, price, size, tick_id), "
                      "a partition per day and venue, exactly once; bad ticks quarantined with the reason.")
def raw_price_ticks(context: dg.AssetExecutionContext, config: TickFileConfig,
                    warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = Path(config.path)
    digest = file_sha256(path)
    try:
        result = load_tick_file(warehouse.database_url, path, default_source=config.source, run_id=context.run_id)
    except ValueError as exc:  # the file itself is unusable (no header, a required column missing)
        moved = file_away(path, "failed", digest)
        moved.with_name(moved.name + ".reason.txt").write_text(f"{exc}\n")
        raise dg.Failure(description=f"{path.name}: {exc}") from None
    file_away(path, "loaded", digest)
    return dg.MaterializeResult(metadata={
        "file": path.name, "sha256": digest, "rows_in": result.rows_in, "inserted": result.inserted,
        "duplicates": result.duplicates, "quarantined": result.quarantined,
        "venue_days": len(result.groups), "seconds": round(result.seconds.get("load", 0.0), 2)})
