"""Syncing one exchange account: its balances, deposits and withdrawals, and trades, each incremental from the
stored cursors, each page stored with its cursor in one transaction (services.calls accounts for the call).
The venue's API is pipelines/sources/exchanges; the writes are warehouse/raw.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import ccxt

from pipelines.constants import raw_table
from pipelines.services.calls import VenueCall, venue_call
from pipelines.services.clients import ExchangeClients
from pipelines.sources.exchanges import binance_earn, derivatives
from pipelines.sources.exchanges.client import Credentials, ExchangeAccount
from pipelines.sources.exchanges.normalise import RAW_COLUMNS, Row, as_tuples, snapshot_digest
from pipelines.sources.exchanges.sync import (
    Page,
    discover_symbols,
    fetch_balance_rows,
    fetch_earn_positions,
    sync_earn,
    sync_trades,
    sync_transfers,
    sync_wallet_moves,
    venue_now,
)
from pipelines.sources.exchanges.venues import profile
from warehouse.connection import Warehouse
from warehouse.raw import HistoryGap, SetAside, store_rows


def cursors(wh: Warehouse, tenant_id: str, account_id: str) -> dict[str, dict[str, Any]]:
    with wh.connect() as conn:
        rows = conn.execute(
            "select endpoint, cursor from ops.sync_cursors where tenant_id = %s and account_id = %s",
            (tenant_id, account_id),
        ).fetchall()
    return {endpoint: cursor for endpoint, cursor in rows}


def store_page(wh: Warehouse, page: Page, *, venue: str, tenant_id: str, account_id: str, run_id: str | None) -> int:
    """The page's rows, set-aside derivatives, cursor and gaps in one transaction; returns the rows newly inserted
    into the raw table."""
    aside = SetAside(derivatives.TABLE, derivatives.COLUMNS, derivatives.as_tuples(page.derivatives)) \
        if page.derivatives else None
    return store_rows(wh, raw_table(venue, page.entity), RAW_COLUMNS[page.entity], as_tuples(page.rows, page.entity),
                      tenant_id=tenant_id, account_id=account_id, run_id=run_id,
                      cursors={page.endpoint: page.cursor} if page.cursor is not None else None,
                      gaps=[HistoryGap(venue, g.endpoint, g.start_ms, g.end_ms, g.reason) for g in page.gaps],
                      set_aside=aside)


def store_pages(wh: Warehouse, pages: Iterable[Page], call: VenueCall, *, venue: str, tenant_id: str,
                account_id: str, run_id: str | None) -> int:
    """Every page as it comes (each committed with its cursor); the counts go to `call`. Returns rows inserted."""
    inserted = 0
    for page in pages:
        new = store_page(wh, page, venue=venue, tenant_id=tenant_id, account_id=account_id, run_id=run_id)
        call.add(len(page.rows), new)
        if page.derivatives:  # fetched, kept in raw.exchange_derivatives, not in this raw table: ignored
            call.ignore(derivatives.IGNORED, len(page.derivatives))
        inserted += new
    return inserted


def known_assets(wh: Warehouse, venue: str, tenant_id: str | None = None, account_id: str | None = None) -> set[str]:
    """What the account (or, without one, any account of the venue) holds or held: for symbol discovery."""
    params = {"t": tenant_id, "a": account_id}
    scope = "(%(t)s::text is null or tenant_id = %(t)s) and (%(a)s::text is null or account_id = %(a)s)"
    query = f"""
        select asset from {raw_table(venue, 'balances')} where total > 0 and {scope}
        union select asset from {raw_table(venue, 'transfers')} where {scope}
        union select base_asset from {raw_table(venue, 'trades')} where {scope}
        union select quote_asset from {raw_table(venue, 'trades')} where {scope}
    """
    with wh.connect() as conn:
        return {r[0] for r in conn.execute(query, params).fetchall() if r[0]}


def latest_balance_snapshot(wh: Warehouse, venue: str, tenant_id: str, account_id: str) -> str | None:
    """The amounts digest of the account's last stored untimed balance snapshot."""
    with wh.connect() as conn:
        row = conn.execute(
            f"""select payload->>'snapshot' from {raw_table(venue, 'balances')}
                where tenant_id = %s and account_id = %s and not payload ? 'wallet'  -- not another wallet's
                order by observed_at desc nulls last, ingested_at desc limit 1""",
            (tenant_id, account_id),
        ).fetchone()
    return row[0] if row else None


def _open(clients: ExchangeClients, call: VenueCall, account: ExchangeAccount) -> ccxt.Exchange:
    exchange = clients.client(account, call.stats)
    call.secrets.append(Credentials(exchange.apiKey or "", exchange.secret or "", exchange.password or None))
    return exchange


def sync_balances(wh: Warehouse, clients: ExchangeClients, account: ExchangeAccount, run_id: str | None) -> VenueCall:
    """One balance snapshot (one call on most venues); an untimed snapshot identical to the last is not stored."""
    venue = account.venue
    with venue_call(wh, venue=venue, entity="balances", endpoint="balances", tenant_id=account.tenant_id,
                    account_id=account.account_id, run_id=run_id) as call:
        exchange = _open(clients, call, account)
        fetched_ms = exchange.milliseconds()
        page = fetch_balance_rows(exchange, account, run_id, fetched_ms)
        digest = snapshot_digest(page.rows)
        if digest is not None and digest == latest_balance_snapshot(wh, venue, account.tenant_id, account.account_id):
            page.rows = []  # nothing new to record
        if profile(venue).simple_earn:
            page.rows += earn_balance_rows(wh, exchange, account, run_id, fetched_ms)
        store_pages(wh, [page], call, venue=venue, tenant_id=account.tenant_id, account_id=account.account_id,
                    run_id=run_id)
    return call


def last_earn_snapshot(wh: Warehouse, tenant_id: str, account_id: str) -> tuple[str | None, dict[str, set[str]]]:
    """The digest of the account's last stored Binance Earn snapshot and what each Earn wallet held in it."""
    with wh.connect() as conn:
        rows = conn.execute(
            """select payload->>'snapshot', payload->>'wallet', asset, total from raw.binance_balances
               where tenant_id = %s and account_id = %s and payload ? 'wallet'
                 and observed_at = (select max(observed_at) from raw.binance_balances
                                    where tenant_id = %s and account_id = %s and payload ? 'wallet')""",
            (tenant_id, account_id, tenant_id, account_id)).fetchall()
    held: dict[str, set[str]] = {}
    for _, wallet, asset, total in rows:
        if total:
            held.setdefault(wallet, set()).add(asset)
    return (rows[0][0] if rows else None), held


def earn_balance_rows(wh: Warehouse, exchange: ccxt.Exchange, account: ExchangeAccount, run_id: str | None,
                      fetched_ms: int) -> list[Row]:
    """The Simple Earn wallets' balances (flexible, locked) as balance rows of their wallet; none when they hold
    what the last Earn snapshot held (an unchanged wallet adds nothing)."""
    digest, held = last_earn_snapshot(wh, account.tenant_id, account.account_id)
    rows = binance_earn.position_rows(fetch_earn_positions(exchange), tenant_id=account.tenant_id,
                                      account_id=account.account_id, run_id=run_id, fetched_ms=fetched_ms,
                                      previously_held=held)
    if not rows or rows[0]["payload"]["snapshot"] == digest:
        return []
    return rows


def uses_simple_earn(exchange: ccxt.Exchange, account: ExchangeAccount, stored: dict[str, dict[str, Any]]) -> bool:
    """Whether to read the account's Simple Earn history (six lists, weight 150 each on Binance): its settings say
    so (`earn: true` / `false`), it was read before, or the account holds something in Earn now (two calls)."""
    setting = account.settings.get("earn")
    if setting is not None:
        return bool(setting)
    if any(endpoint.startswith("earn:") for endpoint in stored):
        return True
    return any(fetch_earn_positions(exchange).values())


def sync_account_transfers(wh: Warehouse, clients: ExchangeClients, account: ExchangeAccount,
                           run_id: str | None) -> VenueCall:
    """Deposits and withdrawals since the stored cursors (pending ones re-read until they settle)."""
    venue = account.venue
    with venue_call(wh, venue=venue, entity="transfers", endpoint="transfers", tenant_id=account.tenant_id,
                    account_id=account.account_id, run_id=run_id) as call:
        exchange = _open(clients, call, account)
        stored, now = cursors(wh, account.tenant_id, account.account_id), exchange.milliseconds()
        pages = itertools.chain(sync_transfers(exchange, profile(venue), account, stored, now, run_id),
                                sync_wallet_moves(exchange, profile(venue), account, stored, now, run_id))
        if profile(venue).simple_earn and uses_simple_earn(exchange, account, stored):
            pages = itertools.chain(pages, sync_earn(exchange, profile(venue), account, stored, now, run_id))
        store_pages(wh, pages, call, venue=venue, tenant_id=account.tenant_id, account_id=account.account_id,
                    run_id=run_id)
    return call


def sync_account_trades(wh: Warehouse, clients: ExchangeClients, account: ExchangeAccount,
                        run_id: str | None) -> VenueCall:
    """Own trades since the stored cursors: per market where the venue asks for one (Binance: the markets of
    what the account holds or held, plus `symbols` from its settings), else by time window."""
    venue, venue_profile = account.venue, profile(account.venue)
    with venue_call(wh, venue=venue, entity="trades", endpoint="trades", tenant_id=account.tenant_id,
                    account_id=account.account_id, run_id=run_id) as call:
        exchange = _open(clients, call, account)
        symbols: list[str] | None = None
        if venue_profile.trades_per_symbol:
            known = known_assets(wh, venue, account.tenant_id, account.account_id)
            known |= set(account.settings.get("assets", []))
            symbols = discover_symbols(exchange.markets, known, account.settings.get("symbols", []))
            call.extra["symbols"] = len(symbols)
        pages = sync_trades(exchange, venue_profile, account, symbols,
                            cursors(wh, account.tenant_id, account.account_id), venue_now(exchange), run_id)
        store_pages(wh, pages, call, venue=venue, tenant_id=account.tenant_id, account_id=account.account_id,
                    run_id=run_id)
    return call
