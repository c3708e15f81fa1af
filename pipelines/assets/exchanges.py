"""Ingestion assets for a ccxt venue: a few lines each around the source module and the loader.

Per-account assets are partitioned by account (dynamic partitions, key 'tenant.account'), so one failing
account does not fail the others. Market data (tickers, candles) belongs to no client and is fetched once
per venue for every symbol any client needs.
"""


import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ccxt
import dagster as dg

from pipelines.credentials import redact
from pipelines.resources.exchanges import ExchangeResource
from pipelines.resources.warehouse import Warehouse, WarehouseResource, raw_table
from pipelines.settings import get_settings
from pipelines.sources.exchanges.client import Credentials, ExchangeAccount
from pipelines.sources.exchanges.normalise import PUBLIC_TENANT, snapshot_digest
from pipelines.sources.exchanges.resilience import CallStats, GarbledResponse
from pipelines.sources.exchanges.sync import (
    discover_symbols,
    fetch_balance_rows,
    fetch_ticker_rows,
    ohlcv_endpoint,
    sync_ohlcv,
    sync_trades,
    sync_transfers,
)
from pipelines.sources.exchanges.venues import profile

USD_QUOTES = ("USDT", "USD", "USDC", "FDUSD")
OHLCV_TIMEFRAME = "1d"  # the full history: daily returns, VaR, lot valuation
MINUTE_TIMEFRAME = "1m"  # a recent window only (COINBOOK_MINUTE_CANDLE_HOURS): intraday prices, hourly returns


def minute_candles_from(daily_cursor: dict[str, Any] | None, minute_cursor: dict[str, Any] | None,
                        start_ms: int, window_ms: int) -> int:
    """Where the 1m sync of a market starts: the window before the last closed daily candle (on a live venue
    that is the last day; on a venue whose data ends earlier, like the sandbox, its last day), or where the
    last 1m sync stopped if that is later. Older minutes are never fetched: a year of 1m candles is 525,600
    rows per market, and nothing downstream reads minutes beyond the window."""
    daily_end = int(daily_cursor["next_ms"]) if daily_cursor else start_ms
    window_start = max(start_ms, daily_end - window_ms)
    if minute_cursor:
        return max(window_start, int(minute_cursor["next_ms"]))
    return window_start


class SourceFailed(Exception):
    """A venue call failed for good (after retries). The message is redacted; the cause is not chained,
    so no secret can reach Dagster's event log through a traceback."""


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


@dataclass
class VenueCall:
    """What one asset did against one venue: the counts that go to the sync log and the metadata."""

    stats: CallStats = field(default_factory=CallStats)
    fetched: int = 0
    inserted: int = 0
    started: float = field(default_factory=time.monotonic)
    extra: dict[str, Any] = field(default_factory=dict)
    secrets: list[Credentials] = field(default_factory=list)  # to redact from error messages
    error: str | None = None  # a market-data call that failed without failing its asset

    def result(self) -> dg.MaterializeResult:
        metadata = self.metadata()
        if self.error:
            metadata["error"] = dg.MetadataValue.text(self.error)
        return dg.MaterializeResult(metadata=metadata)

    def metadata(self) -> dict[str, dg.MetadataValue]:
        meta = {
            "fetched": dg.MetadataValue.int(self.fetched),
            "inserted": dg.MetadataValue.int(self.inserted),
            "api_calls": dg.MetadataValue.int(self.stats.calls),
            "retries": dg.MetadataValue.int(self.stats.retries),
            "seconds": dg.MetadataValue.float(round(time.monotonic() - self.started, 3)),
        }
        meta.update({k: dg.MetadataValue.int(v) for k, v in self.extra.items()})
        return meta


@contextmanager
def venue_call(context: dg.AssetExecutionContext, wh: Warehouse, *, venue: str, entity: str, endpoint: str,
               tenant_id: str, account_id: str) -> Iterator[VenueCall]:
    """Sync-log the call; quarantine a body that never parsed; charge the API usage; and turn a failure into a
    redacted SourceFailed (the partition fails, the other partitions and venues go on)."""
    call = VenueCall()
    try:
        with wh.sync_log(tenant_id=tenant_id, account_id=account_id, source=venue, endpoint=endpoint,
                         run_id=context.run_id) as log:
            try:
                yield call
            finally:
                log.update(fetched=call.fetched, inserted=call.inserted, api_calls=call.stats.calls)
    except GarbledResponse as exc:
        wh.quarantine_response(tenant_id=tenant_id, account_id=account_id, venue=venue, entity=entity,
                               endpoint=endpoint, url=exc.url, status=exc.status, body=exc.body, digest=exc.digest,
                               reason=f"unparseable JSON from {venue} after {call.stats.retries} retries: {exc}",
                               run_id=context.run_id)
        raise SourceFailed(redact(f"{venue} {endpoint} for {account_id}: {exc} (body quarantined)",
                                  call.secrets)) from None
    except (ccxt.BaseError, OSError) as exc:
        raise SourceFailed(redact(f"{venue} {endpoint} for {account_id}: {type(exc).__name__}: {exc}",
                                  call.secrets)) from None
    finally:
        wh.record_api_usage(venue, call.stats.calls, call.stats.retries)


@contextmanager
def market_data_call(context: dg.AssetExecutionContext, wh: Warehouse, *, venue: str,
                     entity: str) -> Iterator[VenueCall]:
    """Like venue_call, but a venue that fails does not fail the asset: public market data of one venue must
    not hold back every model. Prices then come from the other venues (int_prices_latest takes the median
    of the venues that answered), the failure stays in ops.sync_log and the stale-source check sees it."""
    holder: list[VenueCall] = []
    try:
        with venue_call(context, wh, venue=venue, entity=entity, endpoint=entity, tenant_id=PUBLIC_TENANT,
                        account_id=PUBLIC_TENANT) as call:
            holder.append(call)
            yield call
    except SourceFailed as exc:
        context.log.warning(f"{exc}; prices fall back to the other venues")
        holder[0].error = str(exc)


def build_exchange_assets(venue: str) -> list[dg.AssetsDefinition]:
    partitions = account_partitions(venue)
    group = "ingest"
    venue_profile = profile(venue)

    def open_account(exchanges: ExchangeResource, call: VenueCall, account: ExchangeAccount) -> ccxt.Exchange:
        exchange = exchanges.client(account, call.stats)
        call.secrets.append(Credentials(exchange.apiKey or "", exchange.secret or "", exchange.password or None))
        return exchange

    @dg.asset(
        name=f"raw_{venue}_balances", partitions_def=partitions, group_name=group, kinds={"python", "postgres"},
        description=f"Balance snapshots reported by {venue} per account ({raw_table(venue, 'balances')}).",
    )
    def balances(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 exchanges: ExchangeResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        account = wh.account(context.partition_key)
        with venue_call(context, wh, venue=venue, entity="balances", endpoint="balances",
                        tenant_id=account.tenant_id, account_id=account.account_id) as call:
            exchange = open_account(exchanges, call, account)
            page = fetch_balance_rows(exchange, account, context.run_id, exchange.milliseconds())
            digest = snapshot_digest(page.rows)
            if digest is not None and digest == wh.latest_balance_snapshot(venue, account.tenant_id,
                                                                          account.account_id):
                page.rows = []  # an untimed snapshot identical to the last one: nothing new to record
            call.fetched = len(page.rows)
            call.inserted = wh.store_page(page, venue=venue, tenant_id=account.tenant_id,
                                          account_id=account.account_id, run_id=context.run_id)
        return dg.MaterializeResult(metadata=call.metadata())

    @dg.asset(
        name=f"raw_{venue}_transfers", partitions_def=partitions, group_name=group, kinds={"python", "postgres"},
        description=f"Deposits and withdrawals on {venue} per account, incremental.",
    )
    def transfers(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  exchanges: ExchangeResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        account = wh.account(context.partition_key)
        with venue_call(context, wh, venue=venue, entity="transfers", endpoint="transfers",
                        tenant_id=account.tenant_id, account_id=account.account_id) as call:
            exchange = open_account(exchanges, call, account)
            pages = sync_transfers(exchange, venue_profile, account,
                                   wh.cursors(account.tenant_id, account.account_id), exchange.milliseconds(),
                                   context.run_id)
            totals = wh.store_pages(pages, venue=venue, tenant_id=account.tenant_id,
                                    account_id=account.account_id, run_id=context.run_id)
            call.fetched, call.inserted = totals.fetched, totals.inserted
        return dg.MaterializeResult(metadata=call.metadata())

    @dg.asset(
        name=f"raw_{venue}_trades", partitions_def=partitions, group_name=group, kinds={"python", "postgres"},
        deps=[balances, transfers],
        description=f"Own trades on {venue} per account, incremental from the stored cursors.",
    )
    def trades(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               exchanges: ExchangeResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        account = wh.account(context.partition_key)
        with venue_call(context, wh, venue=venue, entity="trades", endpoint="trades",
                        tenant_id=account.tenant_id, account_id=account.account_id) as call:
            exchange = open_account(exchanges, call, account)
            symbols: list[str] | None = None
            if venue_profile.trades_per_symbol:
                known = wh.known_assets(venue, account.tenant_id, account.account_id)
                known |= set(account.settings.get("assets", []))
                symbols = discover_symbols(exchange.markets, known, account.settings.get("symbols", []))
                call.extra["symbols"] = len(symbols)
            pages = sync_trades(exchange, venue_profile, account, symbols,
                                wh.cursors(account.tenant_id, account.account_id), venue_now(exchange),
                                context.run_id)
            totals = wh.store_pages(pages, venue=venue, tenant_id=account.tenant_id,
                                    account_id=account.account_id, run_id=context.run_id)
            call.fetched, call.inserted = totals.fetched, totals.inserted
        return dg.MaterializeResult(metadata=call.metadata())

    @dg.asset(
        name=f"raw_{venue}_tickers", group_name=group, kinds={"python", "postgres"}, deps=[balances, trades],
        description=f"Latest {venue} tickers for every asset any client holds: one batched call.",
    )
    def tickers(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                exchanges: ExchangeResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        mode = _venue_mode(wh, venue)
        if mode is None:
            return _nothing_to_do(venue)
        with market_data_call(context, wh, venue=venue, entity="tickers") as call:
            exchange = exchanges.public_client(venue, mode, call.stats)
            symbols = pricing_symbols(exchange.markets, wh.known_assets(venue))
            page = fetch_ticker_rows(exchange, symbols, context.run_id, batch=exchanges.batching)
            call.fetched = len(page.rows)
            call.inserted = wh.store_page(page, venue=venue, tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT,
                                          run_id=context.run_id)
        return call.result()

    @dg.asset(
        name=f"raw_{venue}_ohlcv", group_name=group, kinds={"python", "postgres"}, deps=[balances, trades],
        description=f"Candles from {venue} for every asset any client holds, closed candles only: 1d over the "
                    "whole history, 1m over the last day.",
    )
    def ohlcv(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              exchanges: ExchangeResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        mode = _venue_mode(wh, venue)
        if mode is None:
            return _nothing_to_do(venue)
        with market_data_call(context, wh, venue=venue, entity="ohlcv") as call:
            exchange = exchanges.public_client(venue, mode, call.stats)
            symbols = pricing_symbols(exchange.markets, wh.known_assets(venue))
            cursors = wh.cursors(PUBLIC_TENANT, PUBLIC_TENANT)
            now_ms = exchange.milliseconds()
            start_ms = wh.history_start_ms(venue) or now_ms - 365 * 86_400_000

            def store(symbol: str, timeframe: str, cursor: dict[str, Any] | None) -> int:
                pages = sync_ohlcv(exchange, symbol, timeframe, cursor, start_ms, now_ms, context.run_id,
                                   venue_profile.ohlcv_page_limit)
                totals = wh.store_pages(pages, venue=venue, tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT,
                                        run_id=context.run_id)
                call.fetched, call.inserted = call.fetched + totals.fetched, call.inserted + totals.inserted
                return totals.inserted

            for symbol in symbols:
                store(symbol, OHLCV_TIMEFRAME, cursors.get(ohlcv_endpoint(venue, symbol, OHLCV_TIMEFRAME)))
            window_ms = get_settings().minute_candle_hours * 3_600_000
            if window_ms > 0:
                cursors = wh.cursors(PUBLIC_TENANT, PUBLIC_TENANT)  # the daily cursors just moved
                for symbol in symbols:
                    since = minute_candles_from(cursors.get(ohlcv_endpoint(venue, symbol, OHLCV_TIMEFRAME)),
                                                cursors.get(ohlcv_endpoint(venue, symbol, MINUTE_TIMEFRAME)),
                                                start_ms, window_ms)
                    inserted = store(symbol, MINUTE_TIMEFRAME, {"next_ms": since})
                    call.extra["minute_candles"] = call.extra.get("minute_candles", 0) + inserted
        return call.result()

    return [balances, transfers, trades, tickers, ohlcv]


def venue_now(exchange: ccxt.Exchange) -> int:
    """'Now' as the venue sees it where its trade history window depends on it (HTX), else our clock. Only
    the trade sync needs it; transfers (paged by id or by our clock's windows) and candles do not."""
    if profile(exchange.id).trade_history_limit_ms is not None and exchange.has.get("fetchTime"):
        return int(exchange.fetch_time())
    return int(exchange.milliseconds())


def _venue_mode(wh: Warehouse, venue: str) -> str | None:
    """Market data comes from the sandbox when every account of the venue is a sandbox account; a venue
    without accounts needs no market data (None)."""
    modes = {a.mode for a in wh.accounts(venue)}
    if not modes:
        return None
    return "sandbox" if modes == {"sandbox"} else "live"


def _nothing_to_do(venue: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"fetched": dg.MetadataValue.int(0), "inserted": dg.MetadataValue.int(0),
                                          "api_calls": dg.MetadataValue.int(0),
                                          "note": dg.MetadataValue.text(f"no {venue} accounts: nothing to price")})
