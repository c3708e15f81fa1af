"""Incremental sync of one exchange account through ccxt: pages of canonical rows plus the cursor that
goes with them. The caller stores each page's rows and cursor in one transaction, so an interrupted sync
resumes where the last committed page ended and never loads a record twice.

No Dagster and no SQL here: only the venue's API, via ccxt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ccxt

from pipelines.sources.exchanges import binance_earn, derivatives
from pipelines.sources.exchanges.client import ExchangeAccount
from pipelines.sources.exchanges.normalise import (
    Row,
    normalise_balances,
    normalise_trade,
    normalise_transfer,
    normalise_wallet_move,
)
from pipelines.sources.exchanges.venues import VenueProfile, profile

DAY_MS = 86_400_000
# Re-read this much recent transfer history on every sync: a pending transfer changes status later.
TRANSFER_LOOKBACK_MS = 7 * DAY_MS
# Re-read this much of the last trade window: a venue may index a trade a little after its timestamp.
TRADE_LOOKBACK_MS = 10 * 60_000
# Quotes a client may have traded against without ever holding them at sync time.
COMMON_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "USD", "TRY")
TIMEFRAME_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": DAY_MS}
PENDING_STATES = ("pending", "created", "waiting_for_clearing", "waiting_for_signature")
MIN_WINDOW_MS = 1_000  # a window this small that is still full is returned as it is (the loader dedups)
# Binance Simple Earn history: "startTime and endTime cannot be longer than 3 months" — 89 days is within any
# three calendar months; at most 100 rows a page
EARN_WINDOW_MS = 89 * DAY_MS
EARN_PAGE = 100


@dataclass(frozen=True)
class Gap:
    """History the venue would not serve (its API keeps only a window): visible, for a CSV back-fill."""

    endpoint: str
    start_ms: int
    end_ms: int
    reason: str


@dataclass
class Page:
    """Rows for one raw table and the cursor to store with them (None: nothing to advance). `derivatives`: the
    page's derivative records, set aside for raw.exchange_derivatives (sources/exchanges/derivatives.py)."""

    entity: str
    endpoint: str
    rows: list[Row]
    cursor: dict[str, Any] | None = None
    gaps: list[Gap] = field(default_factory=list)
    derivatives: list[Row] = field(default_factory=list)


def fetch_balance_rows(exchange: ccxt.Exchange, account: ExchangeAccount, run_id: str | None,
                       fetched_ms: int) -> Page:
    """The spot wallet's balance; and, for an account that declares derivatives, its derivative wallets' (set aside)."""
    balance = exchange.fetch_balance()
    rows = normalise_balances(balance, tenant_id=account.tenant_id, account_id=account.account_id,
                              source=exchange.id, run_id=run_id, fetched_ms=fetched_ms)
    aside = [row for kind in derivatives.derivative_balance_types(exchange.id, account.settings)
             for row in derivatives.derivative_balance_rows(
                 exchange.fetch_balance({"type": kind}), kind, tenant_id=account.tenant_id,
                 account_id=account.account_id, source=exchange.id, run_id=run_id, fetched_ms=fetched_ms)]
    return Page("balances", "balances", rows, derivatives=aside)


def trade_page(exchange: ccxt.Exchange, account: ExchangeAccount, trades: list[dict[str, Any]], endpoint: str,
               cursor: dict[str, Any] | None, run_id: str | None, gaps: list[Gap] | None = None) -> Page:
    """Spot fills as raw trade rows; derivative fills set aside (never a spot row, never quarantined)."""
    markets = exchange.markets or {}
    spot, aside = derivatives.split_trades(trades, markets)
    common = {"tenant_id": account.tenant_id, "account_id": account.account_id, "source": exchange.id,
              "run_id": run_id}
    return Page("trades", endpoint, [normalise_trade(t, **common) for t in spot], cursor, gaps or [],
                [derivatives.derivative_trade_row(t, kind, markets.get(str(t.get("symbol"))), **common)
                 for t, kind in aside])


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


def sync_trades(exchange: ccxt.Exchange, venue: VenueProfile, account: ExchangeAccount,
                symbols: Iterable[str] | None, cursors: dict[str, dict[str, Any]], now_ms: int,
                run_id: str | None) -> Iterator[Page]:
    """Own trades from the stored cursors on: per symbol when the venue needs it (`symbols`), else one
    stream for the whole account."""
    if venue.trade_paging == "from_id":
        for symbol in symbols or ():
            yield from _trades_from_id(exchange, venue, account, symbol, cursors.get(f"trades:{symbol}", {}), run_id)
        return
    streams: list[str | None] = list(symbols or ()) if venue.trades_per_symbol else [None]
    for symbol in streams:
        endpoint = f"trades:{symbol}" if symbol else "trades"
        yield from _trades_by_window(exchange, venue, account, symbol, endpoint, cursors.get(endpoint),
                                     now_ms, run_id)


def _trades_from_id(exchange: ccxt.Exchange, venue: VenueProfile, account: ExchangeAccount, symbol: str,
                    cursor: dict[str, Any], run_id: str | None) -> Iterator[Page]:
    """Binance: pages of ascending trade ids from the last one stored (its ids are per symbol)."""
    endpoint = f"trades:{symbol}"
    while True:
        params = {"fromId": int(cursor.get("last_id", -1)) + 1}
        trades = exchange.fetch_my_trades(symbol, limit=venue.trade_page_limit, params=params)
        new_cursor = dict(cursor)
        numeric_ids = [int(t["id"]) for t in trades if str(t.get("id", "")).isdigit()]
        if numeric_ids:
            new_cursor["last_id"] = max([*numeric_ids, int(cursor.get("last_id", -1))])
        advanced = new_cursor != cursor
        yield trade_page(exchange, account, trades, endpoint, new_cursor if advanced else None, run_id)
        cursor = new_cursor
        if len(trades) < venue.trade_page_limit or not advanced:
            break


def history_start(venue: VenueProfile, account: ExchangeAccount, cursor: dict[str, Any] | None,
                  lookback_ms: int, now_ms: int, endpoint: str,
                  history_limit_ms: int | None) -> tuple[int, list[Gap]]:
    """Where this sync starts, and the history the venue can no longer serve (a gap to record)."""
    first = account.history_start_ms or venue.history_start_ms
    start = max(first, int(cursor["until_ms"]) + 1 - lookback_ms) if cursor and "until_ms" in cursor else first
    if history_limit_ms is None or start >= now_ms - history_limit_ms:
        return start, []
    served_from = now_ms - history_limit_ms
    reason = (f"{venue.venue} serves only the last {history_limit_ms // DAY_MS} days of {endpoint.split(':')[0]} "
              "through its API; back-fill the rest from the venue's CSV export")
    return served_from, [Gap(endpoint, start, served_from - 1, reason)]


def _trades_by_window(exchange: ccxt.Exchange, venue: VenueProfile, account: ExchangeAccount,
                      symbol: str | None, endpoint: str, cursor: dict[str, Any] | None, now_ms: int,
                      run_id: str | None) -> Iterator[Page]:
    start, gaps = history_start(venue, account, cursor, TRADE_LOOKBACK_MS, now_ms, endpoint,
                                venue.trade_history_limit_ms)

    def fetch(lower: int, upper: int) -> list[dict[str, Any]]:
        params = {**venue.trade_params, venue.until_param: upper}
        return exchange.fetch_my_trades(symbol, since=lower, limit=venue.trade_page_limit, params=params)

    for lower, upper in _windows(start, now_ms, venue.trade_window_ms):
        trades = _complete_window(fetch, lower, upper, venue.trade_page_limit)
        yield trade_page(exchange, account, trades, endpoint, {"until_ms": upper}, run_id, gaps)
        gaps = []


def _windows(start_ms: int, end_ms: int, width_ms: int) -> Iterator[tuple[int, int]]:
    cursor = start_ms
    while cursor < end_ms:
        upper = min(cursor + width_ms - 1, end_ms)
        yield cursor, upper
        cursor = upper + 1


def _complete_window(fetch: Callable[[int, int], list[dict[str, Any]]], lower: int, upper: int,
                     limit: int) -> list[dict[str, Any]]:
    """Everything in [lower, upper]: a full page may have been cut at the limit (from either end, depending
    on the venue's sort order), so it is split in two until every page is complete."""
    records = [r for r in fetch(lower, upper) if _within(r, lower, upper)]
    if len(records) < limit or upper - lower < MIN_WINDOW_MS:
        return records
    middle = (lower + upper) // 2
    return _complete_window(fetch, lower, middle, limit) + _complete_window(fetch, middle + 1, upper, limit)


def _within(record: dict[str, Any], lower: int, upper: int) -> bool:
    """Venues round window bounds to seconds; records outside the window belong to a neighbour."""
    ts = record.get("timestamp")
    return not isinstance(ts, int) or lower <= ts <= upper


def sync_transfers(exchange: ccxt.Exchange, venue: VenueProfile, account: ExchangeAccount,
                   cursors: dict[str, dict[str, Any]], now_ms: int, run_id: str | None) -> Iterator[Page]:
    """Deposits and withdrawals: by time window from history start (first sync) or from the cursor less a
    look-back (later syncs: a pending transfer changes status later); HTX pages by transfer id instead."""
    def rows_of(records: list[dict[str, Any]]) -> list[Row]:
        return [normalise_transfer(r, tenant_id=account.tenant_id, account_id=account.account_id,
                                   source=exchange.id, run_id=run_id) for r in records]

    if venue.transfer_paging == "per_currency":
        codes = sorted({a["code"] for a in exchange.load_accounts() if a.get("code")})
        for code in codes:
            yield from _transfers_per_currency(exchange, venue, code, cursors.get(f"transfers:{code}"), rows_of)
        return
    if venue.transfer_paging == "from_id":
        for kind, method in (("deposits", exchange.fetch_deposits), ("withdrawals", exchange.fetch_withdrawals)):
            yield from _transfers_from_id(method, venue, kind, cursors.get(kind), rows_of)
        return
    if venue.transfer_paging == "combined":
        methods = [("transfers", exchange.fetch_deposits_withdrawals)]
    else:
        methods = [("deposits", exchange.fetch_deposits), ("withdrawals", exchange.fetch_withdrawals)]
    for kind, method in methods:
        start, _ = history_start(venue, account, cursors.get(kind), TRANSFER_LOOKBACK_MS, now_ms, kind, None)

        def fetch(lower: int, upper: int, method: Any = method) -> list[dict[str, Any]]:
            params = {**venue.transfer_params, venue.until_param: upper}
            return method(None, since=lower, limit=venue.transfer_page_limit, params=params)

        for lower, upper in _windows(start, now_ms, venue.transfer_window_ms):
            records = _complete_window(fetch, lower, upper, venue.transfer_page_limit)
            yield Page("transfers", kind, rows_of(records), {"until_ms": upper})


def sync_wallet_moves(exchange: ccxt.Exchange, venue: VenueProfile, account: ExchangeAccount,
                      cursors: dict[str, dict[str, Any]], now_ms: int, run_id: str | None) -> Iterator[Page]:
    """Moves between the account's own wallets (Binance universal transfers through ccxt fetch_transfers; Kraken,
    Bitfinex and HTX ledger entries of the transfer kind through fetch_ledger), one kind at a time, by time
    window from the cursor less the transfer look-back; into raw.<venue>_transfers as wallet_out / wallet_in rows
    (a ledger entry of another kind is dropped). History older than the venue serves is recorded as a gap."""
    for kind in venue.wallet_move_types:
        endpoint = f"wallet_moves:{kind}"
        start, gaps = history_start(venue, account, cursors.get(endpoint), TRANSFER_LOOKBACK_MS, now_ms, endpoint,
                                    venue.wallet_move_history_limit_ms)

        def fetch(lower: int, upper: int, kind: str = kind) -> list[dict[str, Any]]:
            method = getattr(exchange, venue.wallet_move_method)
            return method(None, since=lower, limit=venue.wallet_move_page_limit,
                          params={venue.wallet_move_param: kind, "until": upper})

        for lower, upper in _windows(start, now_ms, venue.wallet_move_window_ms):
            records = _complete_window(fetch, lower, upper, venue.wallet_move_page_limit)
            rows = [normalise_wallet_move(r, tenant_id=account.tenant_id, account_id=account.account_id,
                                          source=exchange.id, run_id=run_id) for r in records]
            yield Page("transfers", endpoint, [r for r in rows if r is not None], {"until_ms": upper}, gaps)
            gaps = []


def fetch_earn_positions(exchange: ccxt.Exchange) -> dict[str, list[dict[str, Any]]]:
    """Binance Simple Earn: what the flexible and locked products hold now (wallet → position rows, every page)."""
    return {wallet: _earn_rows(getattr(exchange, method), {}) for wallet, method, _ in binance_earn.POSITION_METHODS}


def _earn_rows(method: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a Simple Earn list: pages of `size` 100 (`current` from 1) until a short page or `total`."""
    rows: list[dict[str, Any]] = []
    current = 1
    while True:
        answer = method({**params, "current": current, "size": EARN_PAGE})
        page = [r for r in (answer.get("rows") or []) if isinstance(r, dict)] if isinstance(answer, dict) else []
        rows += page
        total = int(answer.get("total") or 0) if isinstance(answer, dict) else 0
        if len(page) < EARN_PAGE or len(rows) >= total:
            return rows
        current += 1


def sync_earn(exchange: ccxt.Exchange, venue: VenueProfile, account: ExchangeAccount,
              cursors: dict[str, dict[str, Any]], now_ms: int, run_id: str | None) -> Iterator[Page]:
    """Binance Simple Earn history (subscriptions, redemptions, rewards; flexible and locked), one list at a time,
    by windows of at most 3 months from the cursor less the transfer look-back (a subscription PURCHASING or a
    redemption not yet PAID is read again), into raw.binance_transfers (sources/exchanges/binance_earn.py)."""
    for endpoint in binance_earn.EARN_ENDPOINTS:
        start, _ = history_start(venue, account, cursors.get(endpoint.name), TRANSFER_LOOKBACK_MS, now_ms,
                                 endpoint.name, None)
        method = getattr(exchange, endpoint.method)
        for lower, upper in _windows(max(start, binance_earn.SIMPLE_EARN_START_MS), now_ms, EARN_WINDOW_MS):
            records = _earn_rows(method, {**dict(endpoint.params), "startTime": lower, "endTime": upper})
            rows = [row for record in records
                    for row in binance_earn.normalise_earn(endpoint.kind, record, tenant_id=account.tenant_id,
                                                           account_id=account.account_id, run_id=run_id)]
            yield Page("transfers", endpoint.name, rows, {"until_ms": upper})


def _transfers_per_currency(exchange: ccxt.Exchange, venue: VenueProfile, code: str,
                            cursor: dict[str, Any] | None,
                            rows_of: Callable[[list[dict[str, Any]]], list[Row]]) -> Iterator[Page]:
    """Coinbase: one wallet per currency, its transactions oldest first after the venue's own cursor (an id).
    The stored cursor never passes a transfer still pending, so its status change is read again next time."""
    endpoint = f"transfers:{code}"
    stored = (cursor or {}).get("after_id")
    after, held = stored, False  # held: a pending transfer was seen, the stored cursor stays before it
    while True:
        params: dict[str, Any] = {"order": "asc", **({"starting_after": after} if after else {})}
        records = exchange.fetch_deposits_withdrawals(code, limit=venue.transfer_page_limit, params=params)
        page = exchange.last_json_response if isinstance(exchange.last_json_response, dict) else {}
        native = [d for d in page.get("data", []) if isinstance(d, dict)]
        for item in native:
            if item.get("status") in PENDING_STATES:
                held = True
            if not held:
                stored = item.get("id", stored)
        yield Page("transfers", endpoint, rows_of(records), {"after_id": stored} if stored else None)
        after = (page.get("pagination") or {}).get("next_starting_after")
        if not after or not native:
            break


def _transfers_from_id(method: Any, venue: VenueProfile, kind: str, cursor: dict[str, Any] | None,
                       rows_of: Callable[[list[dict[str, Any]]], list[Row]]) -> Iterator[Page]:
    """Pages of ascending transfer ids. The cursor remembers the oldest transfer still pending, and the
    next sync starts there again, so a status change is seen."""
    cursor = dict(cursor or {})
    next_id = int(cursor.get("pending_from") or cursor.get("next_id") or 0)
    pending: list[int] = []
    while True:
        records = method(None, limit=venue.transfer_page_limit, params={"from": next_id, "direct": "next"})
        ids = [int(r["id"]) for r in records if str(r.get("id", "")).isdigit()]
        pending += [int(r["id"]) for r in records if str(r.get("id", "")).isdigit() and r.get("status") == "pending"]
        top = max(ids, default=None)
        new_cursor = dict(cursor)
        if top is not None:
            new_cursor["next_id"] = max(top + 1, int(cursor.get("next_id") or 0))
        new_cursor["pending_from"] = min(pending) if pending else None
        yield Page("transfers", kind, rows_of(records), new_cursor)
        cursor = new_cursor
        if len(records) < venue.transfer_page_limit or top is None or top + 1 <= next_id:
            break
        next_id = top + 1


def venue_now(exchange: ccxt.Exchange) -> int:
    """'Now' as the venue sees it where its trade history window depends on it (HTX), else our clock. Only
    the trade sync needs it; transfers (paged by id or by our clock's windows) and candles do not."""
    if profile(exchange.id).trade_history_limit_ms is not None and exchange.has.get("fetchTime"):
        return int(exchange.fetch_time())
    return int(exchange.milliseconds())
