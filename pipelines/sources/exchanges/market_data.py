"""Public market data of a venue through ccxt: which markets price the assets clients hold, the latest tickers
(one batched call), and closed candles paged forward from a cursor (1d over the whole history, 1m over a recent
window). Stored under the public tenant (services/prices.py); no Dagster and no SQL here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt

from pipelines.sources.exchanges.normalise import normalise_candle, normalise_ticker
from pipelines.sources.exchanges.sync import TIMEFRAME_MS, Page

USD_QUOTES = ("USDT", "USD", "USDC", "FDUSD")
OHLCV_TIMEFRAME = "1d"  # the full history: daily returns, VaR, lot valuation
MINUTE_TIMEFRAME = "1m"  # a recent window only (COINBOOK_MINUTE_CANDLE_HOURS): intraday prices, hourly returns


def pricing_symbols(markets: dict[str, dict[str, Any]], assets: set[str]) -> list[str]:
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



def ohlcv_endpoint(venue: str, symbol: str, timeframe: str) -> str:
    """The cursor key of a market's candles. Market data is stored under the 'public' tenant and account for
    every venue, so the venue must be part of the key: BTC/USD on Kraken is not BTC/USD on Coinbase."""
    return f"ohlcv:{venue}:{symbol}:{timeframe}"


def sync_ohlcv(exchange: ccxt.Exchange, symbol: str, timeframe: str, cursor: dict[str, Any] | None,
               start_ms: int, now_ms: int, run_id: str | None, page_limit: int = 1000) -> Iterator[Page]:
    """Closed candles only (an open candle still changes), paged forward from the last stored one."""
    step = TIMEFRAME_MS[timeframe]
    endpoint = ohlcv_endpoint(exchange.id, symbol, timeframe)
    since = int(cursor["next_ms"]) if cursor else start_ms
    while since + step <= now_ms:
        candles = exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=page_limit)
        native_by_open = _native_klines(exchange.last_json_response)
        closed = [c for c in candles if isinstance(c, list) and c and c[0] + step <= now_ms]
        rows = [normalise_candle(c, native_by_open.get(c[0]), symbol=symbol, timeframe=timeframe,
                                 source=exchange.id, run_id=run_id) for c in closed]
        next_ms = max((c[0] for c in closed), default=None)
        if next_ms is None:
            # Nothing closed in this page: jump past it, unless the venue had nothing more at all.
            if not candles:
                break
            since = max(c[0] for c in candles) + step
            continue
        yield Page("ohlcv", endpoint, rows, {"next_ms": next_ms + step})
        if next_ms + step <= since:
            break  # no progress: a venue that serves only its latest candles, whatever `since` says
        # A short page is not the end: a time-windowed venue (Coinbase: since … since + limit × step) returns
        # fewer candles when the window holds an outage. The end is an empty page, or `since` reaching now.
        since = next_ms + step


def _native_klines(response: Any) -> dict[int, Any]:
    """Binance-style klines are arrays whose first element is the open time: index them by it."""
    if not isinstance(response, list):
        return {}
    out: dict[int, Any] = {}
    for item in response:
        if isinstance(item, list) and item and isinstance(item[0], int):
            out[item[0]] = item
    return out


def fetch_ticker_rows(exchange: ccxt.Exchange, symbols: list[str], run_id: str | None,
                      batch: bool = True) -> Page:
    """All symbols in one call where the venue allows it; a per-symbol loop costs one request each."""
    if not symbols:
        tickers: dict[str, Any] = {}
    elif batch:
        tickers = exchange.fetch_tickers(symbols)
    else:
        tickers = {symbol: exchange.fetch_ticker(symbol) for symbol in symbols}
    fetched_ms = exchange.milliseconds()
    rows = [normalise_ticker(t, source=exchange.id, run_id=run_id, fetched_ms=fetched_ms) for t in tickers.values()]
    return Page("tickers", "tickers", rows)
