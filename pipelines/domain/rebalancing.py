"""Rebalancing: how far a portfolio drifted from its targets, and the orders that bring it back.

A portfolio has a target weight per asset with a band around it. When an asset's weight leaves its band, the
asset is traded back to its target (not to the band's edge: stopping at the edge trades again at the next
wobble); assets inside their bands are left alone, the cash asset absorbs the difference. Untargeted assets
the portfolio holds keep their value and count in the total (selling what nobody set a target for is not this
function's call).

Orders are what a venue would accept: the quantity rounded *down* to the market's amount step (never sell more
than is free, never spend cash that is not there), the limit price on the market's price step on the side that
fills (buys round the ask up, sells round the bid down), and an order below the market's minimum amount or
notional, or below the portfolio's minimum trade, is not placed but listed with its reason. Sells come from the
accounts holding the most free balance first; buys are paid from the accounts with the most free cash and
scaled down together when the cash (free cash plus what the sells bring) does not cover them.

While the portfolio's circuit breaker is open the proposal is still computed (the manager sees what would be
done) but it is blocked with the breaker's reason, and `next_state` refuses to approve it.

Pure: no I/O, no clock. Amounts and prices are Decimals in the cash asset; weights are Decimal fractions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Band:
    """An asset's target weight and the band it may drift in (fractions of the portfolio's value)."""
    asset: str
    target: Decimal
    lower: Decimal
    upper: Decimal

    def __post_init__(self) -> None:
        if not ZERO <= self.lower <= self.target <= self.upper <= 1:
            raise ValueError(f"{self.asset}: band must satisfy 0 ≤ lower ≤ target ≤ upper ≤ 1, "
                             f"got {self.lower} ≤ {self.target} ≤ {self.upper}")

    @classmethod
    def around(cls, asset: str, target: Decimal, tolerance: Decimal) -> Band:
        """A band of ± tolerance (absolute weight) around the target, clipped to [0, 1]."""
        return cls(asset, target, max(ZERO, target - tolerance), min(Decimal(1), target + tolerance))


@dataclass(frozen=True)
class Targets:
    portfolio_id: str
    cash_asset: str
    bands: tuple[Band, ...]
    min_trade: Decimal = ZERO  # in the cash asset: smaller orders are not worth their fees
    venues: tuple[str, ...] = ()  # venues orders may go to; empty = every venue the portfolio has accounts on

    def __post_init__(self) -> None:
        assets = [b.asset for b in self.bands]
        if len(set(assets)) != len(assets):
            raise ValueError(f"{self.portfolio_id}: an asset has two bands")
        if self.cash_asset in assets:
            raise ValueError(f"{self.portfolio_id}: the cash asset {self.cash_asset} takes what is left; "
                             "it has no band of its own")
        total = sum((b.target for b in self.bands), ZERO)
        if total > 1:
            raise ValueError(f"{self.portfolio_id}: targets add up to {total} > 1")


@dataclass(frozen=True)
class Holding:
    """What one account holds of one asset: `free` may be traded, `total` counts in the value."""
    account_id: str
    venue: str
    asset: str
    total: Decimal
    free: Decimal


@dataclass(frozen=True)
class Market:
    """A spot market as the venue states it (ccxt's `precision` in TICK_SIZE mode and `limits`)."""
    venue: str
    symbol: str
    base: str
    quote: str
    bid: Decimal
    ask: Decimal
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    taker_fee: Decimal = ZERO  # fraction of the notional

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class Drift:
    asset: str
    value: Decimal
    weight: Decimal
    target: Decimal | None  # None: the portfolio holds it without a target
    lower: Decimal | None
    upper: Decimal | None

    @property
    def outside(self) -> bool:
        return self.target is not None and not (self.lower <= self.weight <= self.upper)  # type: ignore[operator]


@dataclass(frozen=True)
class Order:
    account_id: str
    venue: str
    symbol: str
    side: str  # 'buy' | 'sell'
    amount: Decimal  # base units, on the market's amount step
    limit_price: Decimal  # on the market's price step
    notional: Decimal  # amount × limit price
    fee: Decimal  # taker fee on the notional, in the quote (cash) asset
    spread_cost: Decimal  # what crossing half the spread costs against the mid


@dataclass(frozen=True)
class Skipped:
    asset: str
    reason: str


@dataclass
class Proposal:
    portfolio_id: str
    value: Decimal
    drifts: list[Drift]
    orders: list[Order] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    blocked: bool = False
    block_reason: str | None = None

    @property
    def expected_cost(self) -> Decimal:
        return sum((o.fee + o.spread_cost for o in self.orders), ZERO)

    @property
    def needs_trading(self) -> bool:
        return any(d.outside for d in self.drifts)


def step_down(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value` (a step of 0 leaves the value as it is)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def step_up(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(ROUND_CEILING) * step


def drifts(targets: Targets, holdings: Iterable[Holding], prices: Mapping[str, Decimal]) -> tuple[Decimal, list[Drift]]:
    """The portfolio's value in the cash asset and each asset's weight against its band. An asset held
    without a price cannot be weighed: that is an error, not a zero (a zero would make everything else look
    overweight)."""
    value_of: dict[str, Decimal] = {}
    for h in holdings:
        if h.total == 0:
            continue
        price = Decimal(1) if h.asset == targets.cash_asset else prices.get(h.asset)
        if price is None:
            raise ValueError(f"{targets.portfolio_id}: no price for {h.asset} in {targets.cash_asset}")
        value_of[h.asset] = value_of.get(h.asset, ZERO) + h.total * price
    total = sum(value_of.values(), ZERO)
    bands = {b.asset: b for b in targets.bands}
    out: list[Drift] = []
    for asset in sorted(set(value_of) | set(bands)):
        if asset == targets.cash_asset:
            continue
        value = value_of.get(asset, ZERO)
        weight = value / total if total else ZERO
        b = bands.get(asset)
        out.append(Drift(asset, value, weight, b.target if b else None, b.lower if b else None,
                         b.upper if b else None))
    return total, out


def _market_for(asset: str, cash: str, venue: str, markets: Sequence[Market]) -> Market | None:
    for m in markets:
        if m.venue == venue and m.base == asset and m.quote == cash:
            return m
    return None


def _order(account: str, market: Market, side: str, amount: Decimal) -> Order:
    price = step_up(market.ask, market.price_step) if side == "buy" else step_down(market.bid, market.price_step)
    notional = amount * price
    return Order(account, market.venue, market.symbol, side, amount, price, notional,
                 notional * market.taker_fee, abs(price - market.mid) * amount)


def too_small(market: Market, amount: Decimal, price: Decimal, min_trade: Decimal) -> str | None:
    """Why an order of `amount` at `price` may not be placed (the venue's minimums, the portfolio's), or None."""
    if amount <= 0:
        return "rounds to zero on the market's amount step"
    if amount < market.min_amount:
        return f"{amount} is below {market.venue}'s minimum amount {market.min_amount}"
    notional = amount * price
    if notional < market.min_notional:
        return f"notional {notional:.2f} is below {market.venue}'s minimum {market.min_notional}"
    if notional < min_trade:
        return f"notional {notional:.2f} is below the portfolio's minimum trade {min_trade}"
    return None


def propose(targets: Targets, holdings: Sequence[Holding], markets: Sequence[Market],
            prices: Mapping[str, Decimal], *, breaker_open: bool = False,
            breaker_reason: str | None = None) -> Proposal:
    """The drift of each asset and the orders that bring every asset outside its band back to its target."""
    value, drift = drifts(targets, holdings, prices)
    proposal = Proposal(targets.portfolio_id, value, drift)
    if breaker_open:
        proposal.blocked = True
        proposal.block_reason = f"circuit breaker open: {breaker_reason or 'volatility'}"
    allowed = set(targets.venues)

    def usable(h: Holding) -> bool:
        return not allowed or h.venue in allowed

    sells: list[Order] = []
    wanted_buys: list[tuple[Drift, Decimal]] = []
    for d in drift:
        if not d.outside:
            continue
        delta = (d.target - d.weight) * value  # type: ignore[operator]  # cash value to buy (+) or sell (−)
        price = prices.get(d.asset)
        if price is None or price <= 0:  # a target in a coin nobody prices: said, not a crash of every portfolio
            proposal.skipped.append(Skipped(d.asset, f"no price for {d.asset} in {targets.cash_asset}"))
            continue
        if delta < 0:
            remaining = -delta / price
            sources = sorted((h for h in holdings if h.asset == d.asset and h.free > 0 and usable(h)),
                             key=lambda h: (-h.free, h.account_id))
            for h in sources:
                if remaining <= 0:
                    break
                market = _market_for(d.asset, targets.cash_asset, h.venue, markets)
                if market is None:
                    proposal.skipped.append(Skipped(d.asset, f"{h.venue} has no {d.asset}/{targets.cash_asset} "
                                                             "market"))
                    continue
                amount = step_down(min(remaining, h.free), market.amount_step)
                reason = too_small(market, amount, market.bid, targets.min_trade)
                if reason:
                    proposal.skipped.append(Skipped(d.asset, f"sell on {h.account_id}: {reason}"))
                    continue
                sells.append(_order(h.account_id, market, "sell", amount))
                remaining -= amount
            if remaining > 0 and not sources:
                proposal.skipped.append(Skipped(d.asset, "no free balance to sell"))
        else:
            wanted_buys.append((d, delta))

    # Buys are paid from free cash plus what the sells bring on the same account (a sale's proceeds land on
    # its own account: cash does not move between venues here).
    cash_by_account: dict[str, Decimal] = {}
    venue_of: dict[str, str] = {}
    for h in holdings:
        if h.asset == targets.cash_asset and usable(h):
            cash_by_account[h.account_id] = cash_by_account.get(h.account_id, ZERO) + h.free
            venue_of[h.account_id] = h.venue
    for o in sells:
        cash_by_account[o.account_id] = cash_by_account.get(o.account_id, ZERO) + o.notional - o.fee
        venue_of[o.account_id] = o.venue
    need = sum((delta for _, delta in wanted_buys), ZERO)
    available = sum(cash_by_account.values(), ZERO)
    scale = min(Decimal(1), available / need) if need > 0 else Decimal(1)
    if scale < 1 and wanted_buys:
        proposal.skipped.append(Skipped(targets.cash_asset, f"buys scaled to {scale:.1%}: {available:.2f} "
                                                            f"free of {need:.2f} needed"))
    buys: list[Order] = []
    for d, delta in wanted_buys:
        budget = delta * scale
        has_market = False
        for account in sorted(cash_by_account, key=lambda a: (-cash_by_account[a], a)):
            if budget <= 0:
                break
            market = _market_for(d.asset, targets.cash_asset, venue_of[account], markets)
            if market is None:
                continue
            has_market = True
            price = step_up(market.ask, market.price_step)
            spend = min(budget, cash_by_account[account])
            amount = step_down(spend / (price * (1 + market.taker_fee)), market.amount_step)
            reason = too_small(market, amount, price, targets.min_trade)
            if reason:
                proposal.skipped.append(Skipped(d.asset, f"buy on {account}: {reason}"))
                continue
            order = _order(account, market, "buy", amount)
            buys.append(order)
            cash_by_account[account] -= order.notional + order.fee
            budget -= order.notional + order.fee
        if not has_market:
            proposal.skipped.append(Skipped(d.asset, f"no account with {targets.cash_asset} has a "
                                                     f"{d.asset}/{targets.cash_asset} market"))
    proposal.orders = sells + buys
    return proposal


def holdings_after(holdings: Sequence[Holding], orders: Iterable[Order], markets: Sequence[Market]) -> list[Holding]:
    """The holdings once every order filled at its limit price: what VaR-after and the weights-after read."""
    by_key = {(h.account_id, h.asset): h for h in holdings}
    change: dict[tuple[str, str], Decimal] = {}
    venue_of = {h.account_id: h.venue for h in holdings}
    for o in orders:
        market = next(m for m in markets if m.venue == o.venue and m.symbol == o.symbol)
        sign = 1 if o.side == "buy" else -1
        change[(o.account_id, market.base)] = change.get((o.account_id, market.base), ZERO) + sign * o.amount
        cash = -sign * o.notional - o.fee
        change[(o.account_id, market.quote)] = change.get((o.account_id, market.quote), ZERO) + cash
        venue_of[o.account_id] = o.venue
    out = []
    for key in sorted(set(by_key) | set(change)):
        h = by_key.get(key)
        delta = change.get(key, ZERO)
        total = (h.total if h else ZERO) + delta
        free = (h.free if h else ZERO) + delta
        out.append(Holding(key[0], venue_of[key[0]], key[1], total, free))
    return out


# The life of a proposal. Nothing reaches 'sent' without passing 'approved'; a blocked proposal cannot be
# approved; a sent one ends filled, partially filled or failed (a partial fill may still complete). A newer proposal
# of the same portfolio supersedes one still waiting (it was computed on older holdings): final, never approved.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"approved", "rejected", "superseded"}),
    "approved": frozenset({"sent", "rejected"}),
    "sent": frozenset({"filled", "partially_filled", "failed"}),
    "partially_filled": frozenset({"filled", "partially_filled", "failed"}),
    "filled": frozenset(),
    "rejected": frozenset(),
    "failed": frozenset(),
    "superseded": frozenset(),
}


def next_state(current: str, wanted: str, *, blocked: bool = False, block_reason: str | None = None) -> str:
    """`wanted` if the proposal may go there from `current`, else a ValueError that says why not."""
    if current not in TRANSITIONS:
        raise ValueError(f"unknown proposal state {current!r}")
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        article = "an" if current[0] in "aeiou" else "a"
        raise ValueError(f"{article} {current} proposal cannot become {wanted}; it may become: {allowed}")
    if wanted == "approved" and blocked:
        raise ValueError(f"blocked, cannot be approved: {block_reason or 'circuit breaker open'}")
    return wanted


def client_order_id(proposal_id: str, order_index: int) -> str:
    """The id the venue deduplicates on: the same proposal's same order always gets the same id, so a send
    retried after a timeout never places a second order. 32 characters of [0-9a-f] with a 'cb' prefix fit every
    venue's limit (Binance 36, Coinbase UUID-length, Kraken userref is numeric: the caller maps it)."""
    digest = hashlib.sha256(f"{proposal_id}:{order_index}".encode()).hexdigest()
    return "cb" + digest[:30]
