"""Cross-venue arbitrage detection (issue 18 §3): the venues' order books in, observations and alerts out.

One scan: for every tenant, the venues it has enabled exchange accounts on (one can only act where one has an
account). The books are read once for all tenants — ccxt `fetch_order_book` on each venue's spot markets of the
watched coins (COINBOOK_ARBITRAGE_COINS) that two venues or more quote — with each market's taker fee from ccxt's
markets. Per tenant and symbol, `domain.arbitrage.opportunities` finds where buying on one venue and selling on
another pays after both taker fees and the cost of moving the coins there and the quote back (the withdrawal fees
the warehouse saw each venue charge, else domain.arbitrage.DEFAULT_WITHDRAWAL_FEE). Every scan is recorded
(ops.arbitrage_scans) with what it found (ops.arbitrage_observations): marts.arbitrage_opportunities merges an
opportunity seen at consecutive scans into one, with how long it lasted. An edge over the tenant's threshold
(ops.arbitrage_settings, default 50 bps) is an `arbitrage_opportunity` alert, resolved when a scan no longer sees it.

Detection only: nothing here places an order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from pipelines.domain.alerts import Alert
from pipelines.domain.arbitrage import (
    ALERT_KIND,
    DEFAULT_ALERT_EDGE_BPS,
    DEFAULT_WITHDRAWAL_FEE,
    Opportunity,
    VenueQuote,
    above_threshold,
    opportunities,
    shared_symbols,
    transfer_cost,
)
from pipelines.domain.routing import Level
from pipelines.services.clients import ExchangeClients
from warehouse.alerts import sync_alerts
from warehouse.connection import Warehouse

QUOTES = ("USDT", "USD", "USDC", "BTC")  # the quotes compared; a coin against one of them, on two venues or more
# Levels asked per book: a depth each venue accepts (HTX's step0 gives 150 or 5/10/20, Bitfinex 1/25/100).
BOOK_LIMIT = {"htx": 150}
DEFAULT_BOOK_LIMIT = 100


@dataclass(frozen=True)
class Books:
    """What one read of the venues gave: per symbol, each venue's quote (book and taker fee)."""
    quotes: dict[str, list[VenueQuote]]
    read: int
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TenantScan:
    tenant_id: str
    venues: list[str]
    found: list[tuple[str, Opportunity]]  # (symbol, opportunity)
    threshold_bps: Decimal
    problems: list[str]

    @property
    def alerted(self) -> list[tuple[str, Opportunity]]:
        over = above_threshold([o for _, o in self.found], self.threshold_bps)
        return [(s, o) for s, o in self.found if o in over]


def watched_coins(text: str) -> list[str]:
    return [c.strip().upper() for c in text.split(",") if c.strip()]


def tenant_venues(conn: Any) -> dict[str, dict[str, str]]:
    """tenant → {venue: mode} of its enabled exchange accounts."""
    out: dict[str, dict[str, str]] = {}
    for tenant, venue, mode in conn.execute(
            """select tenant_id, venue, max(mode) from ops.accounts where kind = 'exchange' and enabled
               group by tenant_id, venue order by tenant_id, venue""").fetchall():
        out.setdefault(tenant, {})[venue] = mode
    return out


def withdrawal_fees(conn: Any) -> dict[tuple[str, str], Decimal]:
    """(venue, asset) → the fee of the venue's latest withdrawal of that asset seen in the warehouse (fee in the
    asset itself). A venue's fee is the venue's, whichever client paid it."""
    rows = conn.execute(
        """select distinct on (source, asset) source, asset, fee_amount from intermediate.int_exchange_transfers
           where transfer_type = 'withdrawal' and fee_asset = asset and fee_amount > 0
           order by source, asset, occurred_at desc""").fetchall()
    return {(r[0], r[1]): Decimal(str(r[2])) for r in rows}


def thresholds(conn: Any) -> dict[str, Decimal]:
    rows = conn.execute("""select distinct on (tenant_id) tenant_id, alert_edge_bps from ops.arbitrage_settings
                           order by tenant_id, set_at desc""").fetchall()
    return {r[0]: Decimal(str(r[1])) for r in rows}


def book_levels(rows: Iterable[Any]) -> tuple[Level, ...]:
    """One side of a ccxt order book ([[price, amount], …], best first) as Levels; empty levels left out."""
    return tuple(Level(Decimal(str(r[0])), Decimal(str(r[1]))) for r in rows if r[1])


def read_books(clients: ExchangeClients, venues: Mapping[str, str], coins: Iterable[str]) -> Books:
    """The order books of every symbol (a watched coin against one of QUOTES) that two of `venues` quote. A venue
    or a book that cannot be read is a problem, not a crash: the others are still compared."""
    wanted = set(coins)
    problems: list[str] = []
    exchanges, listed = {}, {}
    for venue, mode in sorted(venues.items()):
        try:
            exchange = clients.public_client(venue, mode)
            exchange.load_markets()
        except Exception as exc:  # one venue down must not hide the others' gaps
            problems.append(f"{venue}: markets not loaded ({type(exc).__name__}: {exc})")
            continue
        exchanges[venue] = exchange
        listed[venue] = {s for s, m in exchange.markets.items()
                         if m.get("spot", True) and m.get("base") in wanted and m.get("quote") in QUOTES}
    quotes: dict[str, list[VenueQuote]] = {}
    read = 0
    for symbol in shared_symbols(listed):
        for venue in sorted(v for v in listed if symbol in listed[v]):
            exchange = exchanges[venue]
            try:
                book = exchange.fetch_order_book(symbol, BOOK_LIMIT.get(venue, DEFAULT_BOOK_LIMIT))
            except Exception as exc:
                problems.append(f"{venue} {symbol}: book not read ({type(exc).__name__}: {exc})")
                continue
            read += 1
            fee = exchange.markets[symbol].get("taker")
            quotes.setdefault(symbol, []).append(VenueQuote(
                venue, book_levels(book.get("bids") or []), book_levels(book.get("asks") or []),
                Decimal(str(fee)) if fee is not None else Decimal(0)))
    return Books(quotes, read, problems)


def scan_tenant(tenant_id: str, venues: Iterable[str], books: Books, fees: Mapping[tuple[str, str], Decimal],
                threshold_bps: Decimal) -> TenantScan:
    """The tenant's opportunities among its own venues, from books read once for every tenant."""
    mine = set(venues)
    found: list[tuple[str, Opportunity]] = []
    problems: list[str] = []
    for symbol, all_quotes in sorted(books.quotes.items()):
        quotes = [q for q in all_quotes if q.venue in mine]
        if len(quotes) < 2:
            continue
        base, quote = symbol.split("/")
        costs: dict[tuple[str, str], Decimal] = {}
        for a in quotes:
            for b in quotes:
                if a.venue == b.venue or not a.asks:
                    continue
                coin_fee = fees.get((a.venue, base), DEFAULT_WITHDRAWAL_FEE.get(base))
                quote_fee = fees.get((b.venue, quote), DEFAULT_WITHDRAWAL_FEE.get(quote))
                if coin_fee is None or quote_fee is None:
                    problems.append(f"{symbol} {a.venue}→{b.venue}: no withdrawal fee known for "
                                    f"{base if coin_fee is None else quote}: pair not compared")
                    continue
                costs[(a.venue, b.venue)] = transfer_cost(coin_fee, a.asks[0].price, quote_fee)
        comparable = [q for q in quotes if any(q.venue in pair for pair in costs)]
        found += [(symbol, o) for o in opportunities(comparable, costs) if (o.buy_venue, o.sell_venue) in costs]
    return TenantScan(tenant_id, sorted(mine), found, threshold_bps, problems)


def _alert(scan: TenantScan, symbol: str, o: Opportunity) -> Alert:
    quote = symbol.split("/")[1]
    return Alert(scan.tenant_id, ALERT_KIND, "warning", f"{symbol}:{o.buy_venue}->{o.sell_venue}",
                 f"{symbol}: buy on {o.buy_venue}, sell on {o.sell_venue}: {o.edge_bps:.1f} bps net of fees and "
                 f"transfers on {o.size.normalize():f} {symbol.split('/')[0]} ({o.net_profit:,.2f} {quote}), over "
                 f"the {scan.threshold_bps} bps threshold. Detection only: nothing was traded.",
                 {"symbol": symbol, "buy_venue": o.buy_venue, "sell_venue": o.sell_venue, "size": str(o.size),
                  "edge_bps": str(o.edge_bps.quantize(Decimal("0.0001"))),
                  "net_profit": str(o.net_profit.quantize(Decimal("0.00000001")))})


def record_scan(wh: Warehouse, scan: TenantScan, books_read: int, at: datetime, problems: list[str]) -> None:
    with wh.connect() as conn, conn.transaction():
        conn.execute("""insert into ops.arbitrage_scans (tenant_id, scanned_at, venues, books, problems)
                        values (%s, %s, %s, %s, %s)""", (scan.tenant_id, at, scan.venues, books_read, Jsonb(problems)))
        with conn.cursor() as cur:
            cur.executemany(
                """insert into ops.arbitrage_observations (tenant_id, scanned_at, symbol, buy_venue, sell_venue, size,
                       buy_cost, sell_proceeds, transfer_cost, net_profit, edge_bps, best_ask, best_bid)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(scan.tenant_id, at, symbol, o.buy_venue, o.sell_venue, o.size, _q(o.buy_cost), _q(o.sell_proceeds),
                  _q(o.transfer_cost), _q(o.net_profit), o.edge_bps.quantize(Decimal("0.0001")), o.best_ask,
                  o.best_bid) for symbol, o in scan.found])


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.00000001"))


def scan_all(wh: Warehouse, clients: ExchangeClients, coins: Iterable[str], now: datetime) -> tuple[list[TenantScan],
                                                                                                   list[str]]:
    """One scan for every tenant with exchange accounts: observations recorded, alerts raised and resolved.
    Returns the scans and the problems met."""
    with wh.connect() as conn:
        by_tenant = tenant_venues(conn)
        fees = withdrawal_fees(conn)
        limits = thresholds(conn)
    every_venue: dict[str, str] = {}
    for venues in by_tenant.values():
        every_venue.update(venues)
    books = read_books(clients, every_venue, coins)
    scans, problems = [], list(books.problems)
    for tenant, venues in sorted(by_tenant.items()):
        scan = scan_tenant(tenant, venues, books, fees, limits.get(tenant, DEFAULT_ALERT_EDGE_BPS))
        mine = [p for p in books.problems if p.split(":")[0].split(" ")[0] in venues] + scan.problems
        record_scan(wh, scan, sum(1 for qs in books.quotes.values() for q in qs if q.venue in venues), now, mine)
        scans.append(scan)
        problems += [f"{tenant}: {p}" for p in scan.problems]
    sync_alerts(wh, [ALERT_KIND], [_alert(s, sym, o) for s in scans for sym, o in s.alerted], now,
                tenants=[s.tenant_id for s in scans])
    return scans, problems
