"""Rebalancing proposals (issue 18 §1): targets in, proposals out.

For each portfolio with targets: its holdings (marts.positions, valued at the latest prices; what may be sold is
the free part of the account's latest reported balance), the markets its exchange accounts can trade (the venue's
steps, minimums and taker fee from ccxt's markets, the shared cache; bid and ask from the latest tickers), the
circuit breaker (marts.circuit_breaker) → `domain.rebalancing.propose` → where an asset's trade can go to two venues
or more, their order books (ccxt `fetch_order_book`, kept BOOK_FRESHNESS_S seconds) and
`domain.routed_rebalancing.route_proposal`, the router's split when it is cheaper → ops.rebalance_proposals with its
orders (each with its expected cost and whether it was routed, V044),
its 1-day 99 % historical VaR before and after (marts.asset_returns, the risk service's definition of returns).
A proposal's id is a digest of the portfolio, the day and the orders: re-running the asset the same day with
nothing changed records nothing new.

Approving and rejecting go through `domain.rebalancing.next_state` (a blocked proposal cannot be approved), with
the login of the person who did it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from pipelines.domain.arbitrage import DEFAULT_ALERT_EDGE_BPS
from pipelines.domain.rebalancing import (
    Band,
    Holding,
    Market,
    Proposal,
    Targets,
    client_order_id,
    holdings_after,
    next_state,
    propose,
)
from pipelines.domain.risk import historical_var
from pipelines.domain.routed_rebalancing import Book, RoutedOrder, routable, route_proposal
from pipelines.services.arbitrage import BOOK_LIMIT, DEFAULT_BOOK_LIMIT, book_levels
from pipelines.services.clients import ExchangeClients
from pipelines.services.risk import RETURNS_SQL, returns_matrix
from pipelines.services.users import UserError, acting_as
from warehouse import trading as store
from warehouse.connection import Warehouse
from warehouse.users import logins

VAR_DAYS = 365
VAR_CONFIDENCE = 0.99
# A book read for routing is used again within this many seconds (several portfolios trading the same market in one
# run read it once); older, it is read again: a proposal is priced on books a few seconds old at most.
BOOK_FRESHNESS_S = 15.0
_book_cache: dict[tuple[str, str, str, str], tuple[float, Book]] = {}
_book_cache_lock = threading.Lock()


@dataclass(frozen=True)
class PortfolioTargets:
    tenant_id: str
    targets: Targets
    set_at: datetime


@dataclass(frozen=True)
class ProposalRow:
    tenant_id: str
    proposal_id: str
    portfolio_id: str
    created_at: datetime
    state: str
    blocked: bool
    block_reason: str | None
    value: Decimal
    cash_asset: str
    expected_cost: Decimal
    var_before_usd: Decimal | None
    var_after_usd: Decimal | None
    orders: int


def set_targets(wh: Warehouse, tenant_id: str, portfolio_id: str, bands: Sequence[Band], cash_asset: str,
                min_trade: Decimal, venues: Sequence[str], login: str, password: str) -> datetime:
    """Checks the targets as a whole (`Targets` refuses bands over 1, two bands of an asset, a band on the cash
    asset), then records them on `login`, one of the tenant's managers, with its password (users.acting_as, as a
    decision is): the database records who set them (V041). PermissionError when the login may not."""
    Targets(portfolio_id, cash_asset, tuple(bands), min_trade, tuple(venues))
    with wh.connect() as conn:
        if conn.execute("select 1 from ops.portfolios where tenant_id = %s and portfolio_id = %s",
                        (tenant_id, portfolio_id)).fetchone() is None:
            raise ValueError(f"no portfolio {portfolio_id} of tenant {tenant_id}")
    person = _manager_of(wh, tenant_id, login, password, "sets its targets")
    return store.record_targets(person, tenant_id, portfolio_id, [(b.asset, b.target, b.lower, b.upper) for b in bands],
                                cash_asset, min_trade, venues, login)


def set_arbitrage_threshold(wh: Warehouse, tenant_id: str, bps: Decimal, login: str, password: str) -> datetime:
    """The edge (bps, net of every cost) above which the tenant's arbitrage opportunities raise an alert, recorded on
    `login`, one of the tenant's managers (as targets are). PermissionError when the login may not."""
    if not bps.is_finite() or bps < 0:
        raise ValueError(f"the threshold is a number of basis points ≥ 0, not {bps}")
    with wh.connect() as conn:
        if conn.execute("select 1 from ops.tenants where tenant_id = %s", (tenant_id,)).fetchone() is None:
            raise ValueError(f"no tenant {tenant_id}")
    person = _manager_of(wh, tenant_id, login, password, "set its arbitrage threshold")
    return store.record_arbitrage_threshold(person, tenant_id, bps)


def arbitrage_thresholds(wh: Warehouse, tenant_id: str | None = None) -> list[tuple[str, Decimal, datetime | None,
                                                                                   str | None]]:
    """(tenant, threshold in bps, set at, set by) in force per tenant; the default (no row yet) with no date."""
    return [(t, DEFAULT_ALERT_EDGE_BPS if bps is None else bps, at, by)
            for t, bps, at, by in store.arbitrage_thresholds(wh, tenant_id)]


def _manager_of(wh: Warehouse, tenant_id: str, login: str, password: str, what: str) -> Warehouse:
    """The warehouse as `login`, once checked that it is a manager of the tenant and the password opens it."""
    try:
        person = acting_as(wh, login, password, role="manager")
    except UserError as exc:
        raise PermissionError(str(exc)) from None
    user = next(u for u in logins(wh) if u.name == login)
    if tenant_id not in user.tenants:
        raise PermissionError(f"{login!r} is not a manager of {tenant_id} (coinbook users add NAME --role manager "
                              f"--tenant {tenant_id}): only a tenant's managers {what}")
    return person


def current_targets(conn: Any, tenant_id: str | None = None) -> list[PortfolioTargets]:
    rows = conn.execute(
        """with latest as (
               select distinct on (tenant_id, portfolio_id) tenant_id, portfolio_id, set_at, cash_asset, min_trade,
                      venues
               from ops.rebalance_settings where %(tenant)s::text is null or tenant_id = %(tenant)s
               order by tenant_id, portfolio_id, set_at desc)
           select l.tenant_id, l.portfolio_id, l.set_at, l.cash_asset, l.min_trade, l.venues,
                  t.asset, t.target_weight, t.lower_weight, t.upper_weight
           from latest l join ops.rebalance_targets t using (tenant_id, portfolio_id, set_at)
           order by l.tenant_id, l.portfolio_id, t.asset""", {"tenant": tenant_id}).fetchall()
    grouped: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    out = []
    for (tenant, portfolio), items in grouped.items():
        first = items[0]
        bands = tuple(Band(r[6], r[7], r[8], r[9]) for r in items)
        out.append(PortfolioTargets(tenant, Targets(portfolio, first[3], bands, first[4], tuple(first[5])),
                                    first[2]))
    return out


def load_holdings(conn: Any, tenant_id: str, portfolio_id: str) -> tuple[list[Holding], dict[str, Decimal],
                                                                          dict[str, str]]:
    """(holdings, USD price per asset, mode per exchange account). Everything the portfolio holds counts in its
    value, a DeFi borrow negatively (marts.positions gives it a negative quantity: leaving it out would overstate a
    leveraged portfolio); only the free part of an exchange account's latest reported spot balance may be sold."""
    rows = conn.execute(
        """with snap as (
               select tenant_id, account_id, max(observed_at) as at from intermediate.int_reported_balances
               where tenant_id = %(t)s group by tenant_id, account_id),
           free as (
               select b.account_id, b.asset, sum(b.free) as free from intermediate.int_reported_balances b
               join snap s on s.tenant_id = b.tenant_id and s.account_id = b.account_id and s.at = b.observed_at
               group by b.account_id, b.asset)
           select p.account_id, p.venue, p.asset, sum(p.quantity) as quantity,
                  sum(case when p.account_kind = 'exchange' and p.position_type is null
                           then least(greatest(coalesce(f.free, 0), 0), p.quantity) else 0 end) as free,
                  max(p.price_usd) as price_usd, max(a.mode) as mode
           from marts.positions p
           join ops.accounts a on a.tenant_id = p.tenant_id and a.account_id = p.account_id
           left join free f on f.account_id = p.account_id and f.asset = p.asset
           where p.tenant_id = %(t)s and p.portfolio_id = %(p)s
             and (p.position_type is null
                  or p.position_type in ('venue_wallet', 'staked', 'supplied', 'borrowed'))
           group by p.account_id, p.venue, p.asset""", {"t": tenant_id, "p": portfolio_id}).fetchall()
    holdings = [Holding(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    prices = {r[2]: r[5] for r in rows if r[5] is not None}
    modes = {r[0]: r[6] for r in rows}
    return holdings, prices, modes


def _decimal(value: Any, default: str = "0") -> Decimal:
    return Decimal(default) if value is None else Decimal(str(value))


def _step(exchange: ccxt.Exchange, value: Any) -> Decimal:
    """ccxt's precision as a step: TICK_SIZE mode gives the step, DECIMAL_PLACES the number of decimals."""
    if value is None:
        return Decimal(0)
    if exchange.precisionMode == ccxt.TICK_SIZE:
        return Decimal(str(value))
    return Decimal(1).scaleb(-int(value))


def load_markets(conn: Any, clients: ExchangeClients, venues: dict[str, str], cash: str,
                 assets: set[str]) -> tuple[list[Market], list[str]]:
    """The spot markets asset/cash on each venue (venue → mode), with the latest ticker's bid and ask.
    Returns (markets, problems): a venue whose markets cannot be loaded is a problem, not a crash."""
    markets, problems = [], []
    tickers = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
        """select distinct on (source, base_asset) source, base_asset, bid, ask
           from intermediate.int_exchange_tickers
           where quote_asset = %s and bid is not null and ask is not null
           order by source, base_asset, observed_at desc""", (cash,)).fetchall()}
    for venue, mode in sorted(venues.items()):
        try:
            exchange = clients.public_client(venue, mode)
            exchange.load_markets()
        except Exception as exc:  # a venue that cannot be reached proposes nothing on it; the others still do
            problems.append(f"{venue}: markets not loaded ({type(exc).__name__}: {exc})")
            continue
        for asset in sorted(assets):
            symbol = f"{asset}/{cash}"
            m = exchange.markets.get(symbol)
            if m is None or not m.get("spot", True):
                continue
            quote = tickers.get((venue, asset)) or _top_of_book(clients, venue, mode, symbol, problems)
            if quote is None:
                continue
            limits = m.get("limits") or {}
            markets.append(Market(venue, symbol, asset, cash, _decimal(quote[0]), _decimal(quote[1]),
                                  _step(exchange, (m.get("precision") or {}).get("amount")),
                                  _step(exchange, (m.get("precision") or {}).get("price")),
                                  _decimal((limits.get("amount") or {}).get("min")),
                                  _decimal((limits.get("cost") or {}).get("min")),
                                  _decimal(m.get("taker"))))
    return markets, problems


def _top_of_book(clients: ExchangeClients, venue: str, mode: str, symbol: str,
                 problems: list[str]) -> tuple[Decimal, Decimal] | None:
    """Best bid and ask from the venue's book where the warehouse's tickers carry none: ccxt's Coinbase tickers
    (Advanced Trade's product list) have a price but no bid or ask, and a venue left out for that would
    silently get no proposal. None (and a problem named) when the book has no side to quote."""
    books, book_problems = order_books(clients, {venue: mode}, {(venue, symbol)})
    problems.extend(book_problems)
    book = books.get((venue, symbol))
    if book is None:
        return None
    if not book.bids or not book.asks:
        problems.append(f"{venue} {symbol}: no bid or ask (ticker nor book): no order proposed there")
        return None
    return book.bids[0].price, book.asks[0].price


def order_books(clients: ExchangeClients, modes: Mapping[str, str], wanted: set[tuple[str, str]],
                clock: Any = time.monotonic) -> tuple[dict[tuple[str, str], Book], list[str]]:
    """(venue, symbol) → its order book, read with ccxt `fetch_order_book` (the arbitrage scan's depth per venue) or
    taken from the cache when read less than BOOK_FRESHNESS_S ago. A book that cannot be read is a problem: that
    venue is then not routed to (the naive plan stays)."""
    out: dict[tuple[str, str], Book] = {}
    problems: list[str] = []
    for venue, symbol in sorted(wanted):
        key = (clients.sandbox_url or "", venue, modes[venue], symbol)
        with _book_cache_lock:
            cached = _book_cache.get(key)
        if cached is not None and clock() - cached[0] < BOOK_FRESHNESS_S:
            out[(venue, symbol)] = cached[1]
            continue
        try:
            raw = clients.public_client(venue, modes[venue]).fetch_order_book(
                symbol, BOOK_LIMIT.get(venue, DEFAULT_BOOK_LIMIT))
        except Exception as exc:  # one book unread leaves that venue out of the routing, nothing more
            problems.append(f"{venue} {symbol}: book not read for routing ({type(exc).__name__}: {exc})")
            continue
        book = Book(book_levels(raw.get("bids") or []), book_levels(raw.get("asks") or []))
        with _book_cache_lock:
            _book_cache[key] = (clock(), book)
        out[(venue, symbol)] = book
    return out, problems


def routed_orders(clients: ExchangeClients, modes: Mapping[str, str], targets: Targets,
                  holdings: Sequence[Holding], markets: Sequence[Market],
                  proposal: Proposal) -> tuple[list[RoutedOrder], list[str]]:
    """The proposal's orders, routed where an asset's trade can go to two venues or more (books read only then)."""
    wanted: set[tuple[str, str]] = set()
    market_of = {(m.venue, m.symbol): m for m in markets}
    for asset, side in {(market_of[(o.venue, o.symbol)].base, o.side) for o in proposal.orders}:
        if side == "sell":
            candidates = routable(targets, holdings, markets, asset, side)
        else:  # a purchase may be paid on any venue with cash, or cash its sales bring
            candidates = [m for m in markets if m.base == asset and m.quote == targets.cash_asset]
        if len({m.venue for m in candidates}) >= 2:
            wanted |= {(m.venue, m.symbol) for m in candidates}
    if not wanted:
        return [RoutedOrder(o, o.fee + o.spread_cost, False) for o in proposal.orders], []
    books, problems = order_books(clients, modes, wanted)
    routed, _notes = route_proposal(proposal, targets, holdings, markets, books)
    return routed, problems


def breaker_state(conn: Any, tenant_id: str, portfolio_id: str) -> tuple[bool, str | None]:
    row = conn.execute("""select breaker_open, breaker_reason from marts.circuit_breaker
                          where tenant_id = %s and portfolio_id = %s""", (tenant_id, portfolio_id)).fetchone()
    return (False, None) if row is None else (bool(row[0]), row[1])


def var_usd(returns: pd.DataFrame, exposures: dict[str, Decimal]) -> Decimal | None:
    """1-day historical VaR 99 % of USD exposures over the last VAR_DAYS days on which every asset has a return
    (assets without returns — stablecoins, cash — carry no market risk here)."""
    held = [a for a in exposures if a in returns.columns and exposures[a] != 0]
    if not held:
        return Decimal(0)
    window = returns[held].dropna().tail(VAR_DAYS)
    if len(window) < 30:
        return None
    pnl = window.to_numpy() @ np.array([float(exposures[a]) for a in held])
    return Decimal(repr(historical_var(pnl, VAR_CONFIDENCE).var)).quantize(Decimal("0.01"))


def proposal_id(tenant_id: str, portfolio_id: str, day: date, proposal: Proposal) -> str:
    """The same portfolio, day, orders and blocking give the same id (a re-run records nothing new)."""
    text = "|".join([tenant_id, portfolio_id, day.isoformat(), str(proposal.blocked),
                     *(f"{o.account_id}:{o.symbol}:{o.side}:{o.amount}:{o.limit_price}" for o in proposal.orders)])
    return "rb-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def latest_usd_prices(conn: Any, assets: set[str]) -> dict[str, Decimal]:
    """The latest USD price of each asset (int_prices_latest: tickers, then candles, then via BTC)."""
    if not assets:
        return {}
    rows = conn.execute("select asset, price_usd from intermediate.int_prices_latest "
                        "where asset = any(%s) and price_usd > 0", (sorted(assets),)).fetchall()
    return {a: Decimal(p) for a, p in rows}


def propose_all(wh: Warehouse, clients: ExchangeClients, now: datetime,
                tenant_id: str | None = None) -> tuple[list[ProposalRow], list[str]]:
    """A proposal for every portfolio with targets that needs trading (an asset outside its band). Returns the
    proposals recorded this time and the problems met (a venue unreachable, an asset without a price)."""
    problems: list[str] = []
    recorded: list[str] = []
    with wh.connect() as conn:
        portfolios = current_targets(conn, tenant_id)
        if not portfolios:
            return [], []
        returns = returns_matrix(pd.DataFrame(conn.execute(RETURNS_SQL).fetchall(),
                                              columns=["asset", "day", "simple_return"]))
        for pt in portfolios:
            t = pt.targets
            holdings, usd, modes = load_holdings(conn, pt.tenant_id, t.portfolio_id)
            cash_usd = usd.get(t.cash_asset, Decimal(1) if t.cash_asset in ("USD", "USDT", "USDC") else None)
            if cash_usd is None:
                problems.append(f"{pt.tenant_id}/{t.portfolio_id}: no USD price for the cash asset {t.cash_asset}")
                continue
            # A band may name a coin the portfolio does not hold yet (a first purchase): its price is the latest
            # USD price the warehouse has, as every held coin's is
            usd = {**latest_usd_prices(conn, {b.asset for b in t.bands} - set(usd)), **usd}
            prices = {a: p / cash_usd for a, p in usd.items()}
            venues = {h.venue: modes[h.account_id] for h in holdings
                      if modes.get(h.account_id) and h.free > 0 and (not t.venues or h.venue in t.venues)}
            assets = {b.asset for b in t.bands} | {h.asset for h in holdings if h.asset != t.cash_asset}
            markets, venue_problems = load_markets(conn, clients, venues, t.cash_asset, assets)
            problems += [f"{pt.tenant_id}/{t.portfolio_id}: {p}" for p in venue_problems]
            is_open, reason = breaker_state(conn, pt.tenant_id, t.portfolio_id)
            try:
                proposal = propose(t, holdings, markets, prices, breaker_open=is_open, breaker_reason=reason)
            except ValueError as exc:
                problems.append(f"{pt.tenant_id}/{t.portfolio_id}: {exc}")
                continue
            if not proposal.needs_trading:
                continue
            venue_modes = {m.venue: venues[m.venue] for m in markets}
            routed, route_problems = routed_orders(clients, venue_modes, t, holdings, markets, proposal)
            problems += [f"{pt.tenant_id}/{t.portfolio_id}: {p}" for p in route_problems]
            proposal.orders = [r.order for r in routed]
            pid = proposal_id(pt.tenant_id, t.portfolio_id, now.date(), proposal)
            exposures = _exposures(holdings, usd)
            after = _exposures(holdings_after(holdings, proposal.orders, markets), usd)
            row = {"portfolio_id": t.portfolio_id, "cash_asset": t.cash_asset,
                   "value": proposal.value.quantize(Decimal("1e-8")),
                   "expected_cost": proposal.expected_cost.quantize(Decimal("1e-8")),
                   "var_before_usd": var_usd(returns, exposures), "var_after_usd": var_usd(returns, after),
                   "blocked": proposal.blocked, "block_reason": proposal.block_reason,
                   "drifts": [{"asset": d.asset, "weight": str(d.weight), "target": _s(d.target),
                               "lower": _s(d.lower), "upper": _s(d.upper), "outside": d.outside}
                              for d in proposal.drifts],
                   "skipped": [{"asset": s.asset, "reason": s.reason} for s in proposal.skipped],
                   "targets_set_at": pt.set_at}
            orders = [(r.order.account_id, r.order.venue, r.order.symbol, r.order.side, r.order.amount,
                       r.order.limit_price, r.order.notional.quantize(Decimal("1e-8")),
                       r.order.fee.quantize(Decimal("1e-8")), client_order_id(pid, i),
                       r.expected_cost.quantize(Decimal("1e-8")), r.routed)
                      for i, r in enumerate(routed)]
            if store.record_proposal(wh, pt.tenant_id, pid, row, orders):
                recorded.append(pid)
    return proposals(wh, tenant_id, recorded), problems


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _exposures(holdings: Sequence[Holding], usd: dict[str, Decimal]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for h in holdings:
        if h.asset in usd:
            out[h.asset] = out.get(h.asset, Decimal(0)) + h.total * usd[h.asset]
    return out


def proposals(wh: Warehouse, tenant_id: str | None = None,
              ids: Sequence[str] | None = None) -> list[ProposalRow]:
    """The proposals (of a tenant, or these ids) with their current state, newest first."""
    with wh.connect() as conn:
        rows = conn.execute(
            """select p.tenant_id, p.proposal_id, p.portfolio_id, p.created_at,
                      (select e.state from ops.proposal_events e where e.tenant_id = p.tenant_id
                          and e.proposal_id = p.proposal_id order by e.event_id desc limit 1),
                      p.blocked, p.block_reason, p.value, p.cash_asset, p.expected_cost, p.var_before_usd,
                      p.var_after_usd,
                      (select count(*) from ops.rebalance_orders o where o.tenant_id = p.tenant_id
                          and o.proposal_id = p.proposal_id)
               from ops.rebalance_proposals p
               where (%(t)s::text is null or p.tenant_id = %(t)s)
                 and (%(ids)s::text[] is null or p.proposal_id = any(%(ids)s::text[]))
               order by p.created_at desc, p.proposal_id""",
            {"t": tenant_id, "ids": None if ids is None else list(ids)}).fetchall()
    return [ProposalRow(*r) for r in rows]


def _proposal(wh: Warehouse, proposal_id: str) -> ProposalRow:
    found = proposals(wh, ids=[proposal_id])
    if not found:
        raise ValueError(f"no proposal {proposal_id}")
    return found[0]


def decide(wh: Warehouse, proposal_id: str, decision: str, login: str, password: str,
           reason: str | None = None) -> ProposalRow:
    """Approve or reject a proposal on `login`, one of the tenant's managers, with its password: the decision is
    written through that login (users.acting_as), so the database records who made it. A blocked proposal cannot
    be approved; a decided one cannot be decided again (checked here for a clear message, enforced by the table's
    trigger). PermissionError when the login may not decide; ValueError when the rules refuse the step."""
    if decision not in ("approved", "rejected"):
        raise ValueError(f"a decision is 'approved' or 'rejected', not {decision!r}")
    p = _proposal(wh, proposal_id)
    person = _manager_of(wh, p.tenant_id, login, password, "decide its proposals")
    next_state(p.state, decision, blocked=p.blocked, block_reason=p.block_reason)
    store.record_decision(person, p.tenant_id, proposal_id, decision, reason)
    return _proposal(wh, proposal_id)


def proposal_detail(wh: Warehouse, proposal_id: str) -> tuple[ProposalRow, list[dict[str, Any]],
                                                                list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
    """(the proposal, its drift per asset, its orders, its events) or None."""
    found = proposals(wh, ids=[proposal_id])
    if not found:
        return None
    head = found[0]
    with wh.connect() as conn:
        drifts = conn.execute("select drifts from ops.rebalance_proposals where tenant_id = %s and proposal_id = %s",
                              (head.tenant_id, proposal_id)).fetchone()[0]
        orders = conn.execute(
            """select order_index, account_id, symbol, side, amount, limit_price, notional, fee, client_order_id
               from ops.rebalance_orders where tenant_id = %s and proposal_id = %s order by order_index""",
            (head.tenant_id, proposal_id)).fetchall()
        events = conn.execute(
            """select state, actor, at, reason from ops.proposal_events where tenant_id = %s and proposal_id = %s
               order by event_id""", (head.tenant_id, proposal_id)).fetchall()
    return head, drifts, orders, events
