"""Incremental sync of one exchange account through ccxt: pages of canonical rows plus the cursor that
goes with them. The caller stores each page's rows and cursor in one transaction, so an interrupted sync
resumes where the last committed page ended and never loads a record twice.

No Dagster and no SQL here: only the venue's API, via ccxt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ccxt

from pipelines.sources.exchanges.client import ExchangeAccount
from pipelines.sources.exchanges.normalise import (
    Row,
    normalise_balances,
    normalise_candle,
    normalise_ticker,
    normalise_trade,
    normalise_transfer,
)

DAY_MS = 86_400_000
# Binance caps deposit/withdrawal history queries at 90-day windows.
TRANSFER_WINDOW_MS: dict[str, int] = {"binance": 90 * DAY_MS}
DEFAULT_TRANSFER_WINDOW_MS = 30 * DAY_MS
# Re-read this much recent transfer history on every sync: a pending transfer changes status later.
TRANSFER_LOOKBACK_MS = 7 * DAY_MS
TRADE_PAGE_LIMIT = 1000
TRANSFER_PAGE_LIMIT = 1000
OHLCV_PAGE_LIMIT = 1000
# Where a first sync starts when an account says nothing (Binance opened in July 2017).
VENUE_HISTORY_START_MS: dict[str, int] = {"binance": 1_499_990_400_000}
# Quotes a client may have traded against without ever holding them at sync time.
COMMON_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "USD", "TRY")
TIMEFRAME_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": DAY_MS}


@dataclass
class Page:
    """Rows for one raw table and the cursor to store with them (None: nothing to advance)."""

    entity: str
    endpoint: str
    rows: list[Row]
    cursor: dict[str, Any] | None = None


@dataclass
class CallCounter:
    """Counts HTTP calls a ccxt client makes (for ops.sync_log and the API-cost benchmark)."""

    calls: int = 0
    by_path: dict[str, int] = field(default_factory=dict)

    def attach(self, exchange: ccxt.Exchange) -> ccxt.Exchange:
        original = exchange.fetch

        def counted_fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            self.calls += 1
            path = url.split("?", 1)[0]
            self.by_path[path] = self.by_path.get(path, 0) + 1
            return original(url, method, headers, body)

        exchange.fetch = counted_fetch  # type: ignore[method-assign]
        return exchange


def fetch_balance_rows(exchange: ccxt.Exchange, account: ExchangeAccount, run_id: str | None) -> Page:
    balance = exchange.fetch_balance()
    rows = normalise_balances(balance, tenant_id=account.tenant_id, account_id=account.account_id,
                              source=exchange.id, run_id=run_id)
    return Page("balances", "balances", rows)


def discover_symbols(markets: dict[str, dict[str, Any]], known_assets: Iterable[str],
                     extra_symbols: Iterable[str] = ()) -> list[str]:
    """Spot symbols worth asking for the account's trades.

    Venues like Binance have no "all my trades" call, only one per symbol; asking for all of them would
    cost thousands of calls. The account can only have traded a market whose base it holds or held
    (balances, transfers, earlier trades) against a quote it holds or a common quote.
    """
    known = {a for a in known_assets if a}
    quotes = known | set(COMMON_QUOTES)
    chosen = {
        symbol
        for symbol, market in markets.items()
        if market.get("spot", market.get("type") == "spot")
        and market.get("base") in known
        and market.get("quote") in quotes
        and (market.get("active") is not False)
    }
    chosen.update(s for s in extra_symbols if s in markets)
    return sorted(chosen)


def sync_trades(exchange: ccxt.Exchange, account: ExchangeAccount, symbols: Iterable[str],
                cursors: dict[str, dict[str, Any]], run_id: str | None) -> Iterator[Page]:
    """Own trades per symbol, from the stored cursor on. Binance pages by trade id (fromId); other venues
    by time (since = last timestamp, duplicates at the edge are dropped by the loader's key)."""
    for symbol in symbols:
        endpoint = f"trades:{symbol}"
        cursor = cursors.get(endpoint, {})
        while True:
            if exchange.id == "binance":
                params = {"fromId": int(cursor.get("last_id", -1)) + 1}
                trades = exchange.fetch_my_trades(symbol, limit=TRADE_PAGE_LIMIT, params=params)
            else:
                since = cursor.get("last_ms") or account.history_start_ms
                trades = exchange.fetch_my_trades(symbol, since=since, limit=TRADE_PAGE_LIMIT)
            rows = [normalise_trade(t, tenant_id=account.tenant_id, account_id=account.account_id,
                                    source=exchange.id, run_id=run_id) for t in trades]
            new_cursor = dict(cursor)
            numeric_ids = [int(t["id"]) for t in trades if str(t.get("id", "")).isdigit()]
            if numeric_ids:
                new_cursor["last_id"] = max([*numeric_ids, int(cursor.get("last_id", -1))])
            stamps = [t["timestamp"] for t in trades if isinstance(t.get("timestamp"), int)]
            if stamps:
                new_cursor["last_ms"] = max([*stamps, int(cursor.get("last_ms", 0))])
            advanced = new_cursor != cursor
            yield Page("trades", endpoint, rows, new_cursor if advanced else None)
            cursor = new_cursor
            if len(trades) < TRADE_PAGE_LIMIT or not advanced:
                break


def _windows(start_ms: int, end_ms: int, width_ms: int) -> Iterator[tuple[int, int]]:
    cursor = start_ms
    while cursor < end_ms:
        upper = min(cursor + width_ms - 1, end_ms)
        yield cursor, upper
        cursor = upper + 1


def sync_transfers(exchange: ccxt.Exchange, account: ExchangeAccount, cursors: dict[str, dict[str, Any]],
                   now_ms: int, run_id: str | None) -> Iterator[Page]:
    """Deposits and withdrawals in the venue's maximum time window, from history start (first sync) or
    from the cursor less a look-back (later syncs) up to now. The cursor is the end of the last window."""
    width = TRANSFER_WINDOW_MS.get(exchange.id, DEFAULT_TRANSFER_WINDOW_MS)
    start_default = account.history_start_ms or VENUE_HISTORY_START_MS.get(exchange.id, now_ms - 365 * DAY_MS)
    for kind, method in (("deposits", exchange.fetch_deposits), ("withdrawals", exchange.fetch_withdrawals)):
        cursor = cursors.get(kind)
        start = max(start_default, int(cursor["until_ms"]) - TRANSFER_LOOKBACK_MS) if cursor else start_default
        for lower, upper in _windows(start, now_ms, width):
            records = _fetch_transfer_window(method, lower, upper)
            rows = [normalise_transfer(r, tenant_id=account.tenant_id, account_id=account.account_id,
                                       source=exchange.id, run_id=run_id) for r in records]
            yield Page("transfers", kind, rows, {"until_ms": upper})


def _fetch_transfer_window(method: Any, lower: int, upper: int) -> list[dict[str, Any]]:
    """A full window may have been cut at the page limit: halve it until every page is complete."""
    records: list[dict[str, Any]] = method(None, since=lower, limit=TRANSFER_PAGE_LIMIT, params={"endTime": upper})
    if len(records) < TRANSFER_PAGE_LIMIT or upper - lower < 60_000:
        return records
    middle = (lower + upper) // 2
    return _fetch_transfer_window(method, lower, middle) + _fetch_transfer_window(method, middle + 1, upper)


def sync_ohlcv(exchange: ccxt.Exchange, symbol: str, timeframe: str, cursor: dict[str, Any] | None,
               start_ms: int, now_ms: int, run_id: str | None) -> Iterator[Page]:
    """Closed candles only (an open candle still changes), paged forward from the last stored one."""
    step = TIMEFRAME_MS[timeframe]
    endpoint = f"ohlcv:{symbol}:{timeframe}"
    since = int(cursor["next_ms"]) if cursor else start_ms
    while since + step <= now_ms:
        candles = exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=OHLCV_PAGE_LIMIT)
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
        if len(candles) < OHLCV_PAGE_LIMIT:
            break
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


def fetch_ticker_rows(exchange: ccxt.Exchange, symbols: list[str], run_id: str | None) -> Page:
    """All symbols in one call: a per-symbol loop costs one request each."""
    tickers = exchange.fetch_tickers(symbols) if symbols else {}
    rows = [normalise_ticker(t, source=exchange.id, run_id=run_id) for t in tickers.values()]
    return Page("tickers", "tickers", rows)
