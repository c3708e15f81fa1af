"""Ingestion assets for a ccxt venue: a few lines each around the source module and the loader.

Per-account assets are partitioned by account (dynamic partitions, key 'tenant.account'), so one failing
account does not fail the others. Market data (tickers, candles) belongs to no client and is fetched once
per venue for every symbol any client needs.
"""


import time

import dagster as dg

from pipelines.resources.exchanges import ExchangeResource
from pipelines.resources.warehouse import Warehouse, WarehouseResource, raw_table
from pipelines.sources.exchanges.normalise import PUBLIC_TENANT
from pipelines.sources.exchanges.sync import (
    CallCounter,
    discover_symbols,
    fetch_balance_rows,
    fetch_ticker_rows,
    sync_ohlcv,
    sync_trades,
    sync_transfers,
)

USD_QUOTES = ("USDT", "USDC", "FDUSD", "USD")
OHLCV_TIMEFRAME = "1d"


def account_partitions(venue: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"{venue}_accounts")


def pricing_symbols(markets: dict[str, dict], assets: set[str]) -> list[str]:
    """One USD-quoted market per asset (first available quote), plus BTC/USD for cross rates."""
    wanted = set(assets) | {"BTC"}
    chosen: list[str] = []
    for asset in sorted(wanted):
        for quote in USD_QUOTES:
            symbol = f"{asset}/{quote}"
            if asset != quote and symbol in markets:
                chosen.append(symbol)
                break
        else:
            if asset != "BTC" and f"{asset}/BTC" in markets:
                chosen.append(f"{asset}/BTC")
    return chosen


def _metadata(totals_fetched: int, inserted: int, calls: CallCounter, started: float) -> dict[str, dg.MetadataValue]:
    return {
        "fetched": dg.MetadataValue.int(totals_fetched),
        "inserted": dg.MetadataValue.int(inserted),
        "api_calls": dg.MetadataValue.int(calls.calls),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
    }


def build_exchange_assets(venue: str) -> list[dg.AssetsDefinition]:
    partitions = account_partitions(venue)
    group = "ingest"

    @dg.asset(
        name=f"raw_{venue}_balances", partitions_def=partitions, group_name=group, kinds={"python", "postgres"},
        description=f"Balance snapshots reported by {venue} per account ({raw_table(venue, 'balances')}).",
    )
    def balances(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 exchanges: ExchangeResource) -> dg.MaterializeResult:
        started, calls, wh = time.monotonic(), CallCounter(), warehouse.get()
        account = wh.account(context.partition_key)
        exchange = calls.attach(exchanges.client(account))
        with wh.sync_log(tenant_id=account.tenant_id, account_id=account.account_id, source=venue,
                         endpoint="balances", run_id=context.run_id) as log:
            page = fetch_balance_rows(exchange, account, context.run_id)
            inserted = wh.store_page(page, venue=venue, tenant_id=account.tenant_id,
                                     account_id=account.account_id, run_id=context.run_id)
            log.update(fetched=len(page.rows), inserted=inserted, api_calls=calls.calls)
        return dg.MaterializeResult(metadata=_metadata(len(page.rows), inserted, calls, started))

    @dg.asset(
        name=f"raw_{venue}_transfers", partitions_def=partitions, group_name=group, kinds={"python", "postgres"},
        description=f"Deposits and withdrawals on {venue} per account, incremental by time window.",
    )
    def transfers(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  exchanges: ExchangeResource) -> dg.MaterializeResult:
        started, calls, wh = time.monotonic(), CallCounter(), warehouse.get()
        account = wh.account(context.partition_key)
        exchange = calls.attach(exchanges.client(account))
        with wh.sync_log(tenant_id=account.tenant_id, account_id=account.account_id, source=venue,
                         endpoint="transfers", run_id=context.run_id) as log:
            pages = sync_transfers(exchange, account, wh.cursors(account.tenant_id, account.account_id),
                                   exchange.milliseconds(), context.run_id)
            totals = wh.store_pages(pages, venue=venue, tenant_id=account.tenant_id,
                                    account_id=account.account_id, run_id=context.run_id)
            log.update(fetched=totals.fetched, inserted=totals.inserted, api_calls=calls.calls)
        return dg.MaterializeResult(metadata=_metadata(totals.fetched, totals.inserted, calls, started))

    @dg.asset(
        name=f"raw_{venue}_trades", partitions_def=partitions, group_name=group, kinds={"python", "postgres"},
        deps=[balances, transfers],
        description=f"Own trades on {venue} per account and symbol, incremental from the stored cursor.",
    )
    def trades(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               exchanges: ExchangeResource) -> dg.MaterializeResult:
        started, calls, wh = time.monotonic(), CallCounter(), warehouse.get()
        account = wh.account(context.partition_key)
        exchange = calls.attach(exchanges.client(account))
        with wh.sync_log(tenant_id=account.tenant_id, account_id=account.account_id, source=venue,
                         endpoint="trades", run_id=context.run_id) as log:
            known = wh.known_assets(venue, account.tenant_id, account.account_id)
            known |= set(account.settings.get("assets", []))
            symbols = discover_symbols(exchange.markets, known, account.settings.get("symbols", []))
            context.log.info(f"{account.partition_key}: {len(symbols)} symbols to sync")
            pages = sync_trades(exchange, account, symbols, wh.cursors(account.tenant_id, account.account_id),
                                context.run_id)
            totals = wh.store_pages(pages, venue=venue, tenant_id=account.tenant_id,
                                    account_id=account.account_id, run_id=context.run_id)
            log.update(fetched=totals.fetched, inserted=totals.inserted, api_calls=calls.calls)
        meta = _metadata(totals.fetched, totals.inserted, calls, started)
        meta["symbols"] = dg.MetadataValue.int(len(symbols))
        return dg.MaterializeResult(metadata=meta)

    @dg.asset(
        name=f"raw_{venue}_tickers", group_name=group, kinds={"python", "postgres"}, deps=[balances, trades],
        description=f"Latest {venue} tickers for every asset any client holds: one batched call.",
    )
    def tickers(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                exchanges: ExchangeResource) -> dg.MaterializeResult:
        started, calls, wh = time.monotonic(), CallCounter(), warehouse.get()
        mode = _venue_mode(wh, venue)
        exchange = calls.attach(exchanges.public_client(venue, mode))
        with wh.sync_log(tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT, source=venue,
                         endpoint="tickers", run_id=context.run_id) as log:
            symbols = pricing_symbols(exchange.markets, wh.known_assets(venue))
            page = fetch_ticker_rows(exchange, symbols, context.run_id)
            inserted = wh.store_page(page, venue=venue, tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT,
                                     run_id=context.run_id)
            log.update(fetched=len(page.rows), inserted=inserted, api_calls=calls.calls)
        return dg.MaterializeResult(metadata=_metadata(len(page.rows), inserted, calls, started))

    @dg.asset(
        name=f"raw_{venue}_ohlcv", group_name=group, kinds={"python", "postgres"}, deps=[balances, trades],
        description=f"Daily candles from {venue} for every asset any client holds, closed candles only.",
    )
    def ohlcv(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              exchanges: ExchangeResource) -> dg.MaterializeResult:
        started, calls, wh = time.monotonic(), CallCounter(), warehouse.get()
        mode = _venue_mode(wh, venue)
        exchange = calls.attach(exchanges.public_client(venue, mode))
        with wh.sync_log(tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT, source=venue,
                         endpoint="ohlcv", run_id=context.run_id) as log:
            symbols = pricing_symbols(exchange.markets, wh.known_assets(venue))
            cursors = wh.cursors(PUBLIC_TENANT, PUBLIC_TENANT)
            start_ms = wh.history_start_ms(venue) or exchange.milliseconds() - 365 * 86_400_000
            fetched = inserted = 0
            for symbol in symbols:
                endpoint = f"ohlcv:{symbol}:{OHLCV_TIMEFRAME}"
                pages = sync_ohlcv(exchange, symbol, OHLCV_TIMEFRAME, cursors.get(endpoint), start_ms,
                                   exchange.milliseconds(), context.run_id)
                totals = wh.store_pages(pages, venue=venue, tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT,
                                        run_id=context.run_id)
                fetched, inserted = fetched + totals.fetched, inserted + totals.inserted
            log.update(fetched=fetched, inserted=inserted, api_calls=calls.calls)
        return dg.MaterializeResult(metadata=_metadata(fetched, inserted, calls, started))

    return [balances, transfers, trades, tickers, ohlcv]


def _venue_mode(wh: Warehouse, venue: str) -> str:
    """Market data comes from the sandbox when every account of the venue is a sandbox account."""
    modes = {a.mode for a in wh.accounts(venue)}
    return "sandbox" if modes == {"sandbox"} else "live"
