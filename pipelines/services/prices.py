"""Market data: the latest tickers and the candles (1d over the whole history, 1m over a recent window) of every
market that prices an asset some client holds, fetched once per venue for all clients; and price ticks loaded
from files, exactly once.

Public data belongs to no client: it is stored under the public tenant. A venue whose market data fails does
not fail the asset (services.calls.market_data_call): prices fall back to the other venues.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ccxt
import pyarrow as pa

from pipelines.constants import PUBLIC_TENANT
from pipelines.services.accounts import history_start_ms, venue_mode
from pipelines.services.calls import VenueCall, market_data_call
from pipelines.services.clients import ExchangeClients
from pipelines.services.exchanges import cursors, known_assets, store_page, store_pages
from pipelines.sources.exchanges.market_data import (
    MINUTE_TIMEFRAME,
    OHLCV_TIMEFRAME,
    fetch_ticker_rows,
    minute_candles_from,
    ohlcv_endpoint,
    pricing_symbols,
    sync_ohlcv,
)
from pipelines.sources.exchanges.venues import profile
from pipelines.sources.prices.ticks import (
    Reject,
    TickBatch,
    final_columns,
    group_digest,
    iter_chunks,
    prepare_ticks,
    read_tick_file,
    venue_slices,
)
from pipelines.sources.prices.ticks import (
    TickGroup as PreparedGroup,
)
from warehouse.connection import Warehouse
from warehouse.ticks import GroupLoad, TickGroup, TickReject, ensure_days, quarantine_ticks, write_group

YEAR_MS = 365 * 86_400_000


def _open_market(wh: Warehouse, clients: ExchangeClients, venue: str, mode: str,
                 call: VenueCall) -> tuple[ccxt.Exchange, list[str]]:
    """The venue's public client and the markets that price what its clients hold (inside the call, so that a
    failure here is the call's, kept in `call.error`)."""
    exchange = clients.public_client(venue, mode, call.stats)
    return exchange, pricing_symbols(exchange.markets, known_assets(wh, venue))


def sync_tickers(wh: Warehouse, clients: ExchangeClients, venue: str, run_id: str | None) -> VenueCall | None:
    """The latest tickers of the venue's pricing markets: one batched call. None: the venue has no accounts."""
    mode = venue_mode(wh, venue)
    if mode is None:
        return None
    with market_data_call(wh, venue=venue, entity="tickers", run_id=run_id) as call:
        exchange, symbols = _open_market(wh, clients, venue, mode, call)
        page = fetch_ticker_rows(exchange, symbols, run_id, batch=clients.batching)
        call.add(len(page.rows), store_page(wh, page, venue=venue, tenant_id=PUBLIC_TENANT,
                                            account_id=PUBLIC_TENANT, run_id=run_id))
    return call


def sync_candles(wh: Warehouse, clients: ExchangeClients, venue: str, run_id: str | None,
                 minute_hours: int) -> VenueCall | None:
    """Closed daily candles since each market's cursor (from the earliest account's history start), then the
    1m candles of the last `minute_hours`. None: the venue has no accounts."""
    mode = venue_mode(wh, venue)
    if mode is None:
        return None
    with market_data_call(wh, venue=venue, entity="ohlcv", run_id=run_id) as call:
        exchange, symbols = _open_market(wh, clients, venue, mode, call)
        now_ms = exchange.milliseconds()
        start_ms = history_start_ms(wh, venue) or now_ms - YEAR_MS

        def store(symbol: str, timeframe: str, cursor: dict[str, Any] | None) -> int:
            pages = sync_ohlcv(exchange, symbol, timeframe, cursor, start_ms, now_ms, run_id,
                               profile(venue).ohlcv_page_limit)
            return store_pages(wh, pages, call, venue=venue, tenant_id=PUBLIC_TENANT, account_id=PUBLIC_TENANT,
                               run_id=run_id)

        daily = cursors(wh, PUBLIC_TENANT, PUBLIC_TENANT)
        for symbol in symbols:
            store(symbol, OHLCV_TIMEFRAME, daily.get(ohlcv_endpoint(venue, symbol, OHLCV_TIMEFRAME)))
        window_ms = minute_hours * 3_600_000
        if window_ms > 0:
            moved = cursors(wh, PUBLIC_TENANT, PUBLIC_TENANT)  # the daily cursors just moved
            for symbol in symbols:
                since = minute_candles_from(moved.get(ohlcv_endpoint(venue, symbol, OHLCV_TIMEFRAME)),
                                            moved.get(ohlcv_endpoint(venue, symbol, MINUTE_TIMEFRAME)),
                                            start_ms, window_ms)
                call.count("minute_candles", store(symbol, MINUTE_TIMEFRAME, {"next_ms": since}))
    return call


# ── price ticks from files ──────────────────────────────────────────────────────────────────────────────────
@dataclass
class TickLoad:
    """rows_in = inserted + duplicates + quarantined (duplicates: already stored, or repeated in the batch)."""

    rows_in: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantined_new: int = 0
    groups: list[GroupLoad] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.inserted + self.duplicates + self.quarantined

    def add_group(self, loaded: GroupLoad, seconds: dict[str, float]) -> None:
        self.groups.append(loaded)
        self.inserted += loaded.inserted
        self.duplicates += loaded.duplicates
        for phase, value in seconds.items():  # summed over the workers: work done, not wall time
            self.seconds[phase] = self.seconds.get(phase, 0.0) + value


def _tick_group(batch: TickBatch, group: PreparedGroup, run_id: str | None) -> TickGroup:
    def chunks() -> Iterator[pa.Table]:
        for chunk in iter_chunks(batch.table, group.start, group.stop):
            yield final_columns(chunk, run_id)

    return TickGroup(group.day, group.source, group.rows,
                     lambda: group_digest(batch.table.slice(group.start, group.rows)), chunks)


def load_ticks(url: str, raw: pa.Table, *, default_source: str | None = None, run_id: str | None = None,
               trust_digest: bool = True, workers: int = 2) -> TickLoad:
    """Delivered ticks (see sources/prices/ticks.py for the columns) → raw.price_ticks + ops.quarantine.

    Pipelined by venue: while `workers` connections COPY the venues prepared so far (a COPY is bound by its
    server process's CPU), this thread prepares the next venue; each (venue, day) commits on its own. For a
    day of 2.3 M ticks, preparing everything first and loading in one transaction took 1.9–2.3× a bare COPY
    of the same rows, mostly because the server sat idle through the 4 s of preparation. A killed load leaves
    whole venue-days, never part of one; loading the file again adds exactly the missing ones (the digest
    recognises those already loaded). The quarantine is written last."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    result = TickLoad()
    rejects: list[Reject] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = []
        for rows, part in venue_slices(raw):
            began = time.perf_counter()
            batch = prepare_ticks(part, default_source)
            result.seconds["prepare"] = result.seconds.get("prepare", 0.0) + time.perf_counter() - began
            result.rows_in += batch.rows_in
            result.duplicates += batch.in_batch_duplicates
            rejects += [replace(r, row=int(rows[r.row])) for r in batch.rejects]  # positions in the file
            ensure_days(url, {g.day for g in batch.groups})
            pending += [pool.submit(write_group, url, _tick_group(batch, g, run_id), tenant_id=PUBLIC_TENANT,
                                    run_id=run_id, trust_digest=trust_digest) for g in batch.groups]
        for future in pending:
            result.add_group(*future.result())
    rejects.sort(key=lambda r: r.row)
    result.quarantined = len(rejects)
    result.quarantined_new = quarantine_ticks(
        url, [TickReject(r.source, r.source_record_id, {"row": r.row, "tick": r.payload}, r.check_name, r.reason)
              for r in rejects], tenant_id=PUBLIC_TENANT, run_id=run_id)
    result.seconds["load"] = time.perf_counter() - started  # wall time, preparation overlapped
    if not result.balanced:  # a loader bug, not bad input: say so loudly
        raise RuntimeError(f"tick load does not add up: {result}")
    return result


def load_tick_file(url: str, path: Path, *, default_source: str | None = None, run_id: str | None = None) -> TickLoad:
    """A CSV or Parquet file of ticks, loaded exactly once (ValueError: the file itself is unusable)."""
    return load_ticks(url, read_tick_file(path), default_source=default_source, run_id=run_id)


def quarantined_ticks(url: str, limit: int = 10) -> list[str]:
    """The reasons of the latest quarantined ticks."""
    with Warehouse(url).connect() as conn:
        return [reason for (reason,) in conn.execute(
            "select reason from ops.quarantine where raw_table = 'raw.price_ticks' "
            "order by quarantine_id desc limit %s", (limit,))]
