"""Cross-venue arbitrage detection: where buying on one venue and selling on another pays after every cost.

For each ordered pair of venues quoting the same market, the next unit bought at venue A's ask and sold at venue
B's bid earns bid × (1 − fee_B) − ask × (1 + fee_A). Units are taken through both books while that marginal edge
stays positive; the fixed cost of moving the coins from A to B (withdrawal fee and network cost, priced by the
caller in the quote asset) is then taken off once. What is left is the opportunity: its size in base units, the
net profit, the edge in basis points of what the buy costs, and the depth it was found at. Detection only:
nothing here trades.

Pure: no I/O. Decimals throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pipelines.domain.routing import Level

ZERO = Decimal(0)


@dataclass(frozen=True)
class VenueQuote:
    venue: str
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first
    taker_fee: Decimal = ZERO


@dataclass(frozen=True)
class Opportunity:
    buy_venue: str
    sell_venue: str
    size: Decimal  # base units
    buy_cost: Decimal  # Σ ask × size (1 + fee)
    sell_proceeds: Decimal  # Σ bid × size (1 − fee)
    transfer_cost: Decimal
    best_ask: Decimal
    best_bid: Decimal

    @property
    def net_profit(self) -> Decimal:
        return self.sell_proceeds - self.buy_cost - self.transfer_cost

    @property
    def edge_bps(self) -> Decimal:
        return self.net_profit / self.buy_cost * 10_000 if self.buy_cost else ZERO


def pair_opportunity(buy: VenueQuote, sell: VenueQuote, transfer_cost: Decimal = ZERO) -> Opportunity | None:
    """The opportunity of buying on `buy` and selling on `sell`, or None when nothing pays after costs."""
    asks, bids = list(buy.asks), list(sell.bids)
    i = j = 0
    ask_left = asks[0].amount if asks else ZERO
    bid_left = bids[0].amount if bids else ZERO
    size = cost = proceeds = ZERO
    while i < len(asks) and j < len(bids):
        unit_cost = asks[i].price * (1 + buy.taker_fee)
        unit_gain = bids[j].price * (1 - sell.taker_fee)
        if unit_gain <= unit_cost:
            break
        take = min(ask_left, bid_left)
        size += take
        cost += take * unit_cost
        proceeds += take * unit_gain
        ask_left -= take
        bid_left -= take
        if ask_left == 0:
            i += 1
            ask_left = asks[i].amount if i < len(asks) else ZERO
        if bid_left == 0:
            j += 1
            bid_left = bids[j].amount if j < len(bids) else ZERO
    if size == 0 or proceeds - cost - transfer_cost <= 0:
        return None
    return Opportunity(buy.venue, sell.venue, size, cost, proceeds, transfer_cost, asks[0].price, bids[0].price)


def opportunities(quotes: Sequence[VenueQuote],
                  transfer_costs: Mapping[tuple[str, str], Decimal] | None = None) -> list[Opportunity]:
    """Every ordered venue pair's opportunity, the most profitable first. `transfer_costs[(a, b)]` is the cost of
    moving the coins from a to b; a pair without one is assumed free to move (the caller should supply them)."""
    costs = transfer_costs or {}
    found = [opp for a in quotes for b in quotes if a.venue != b.venue
             if (opp := pair_opportunity(a, b, costs.get((a.venue, b.venue), ZERO))) is not None]
    return sorted(found, key=lambda o: (-o.net_profit, o.buy_venue, o.sell_venue))


# ── around the scan (issue 18 §3): which books to compare, what moving the coins costs, what is worth an alert ──
DEFAULT_ALERT_EDGE_BPS = Decimal(50)  # a tenant without ops.arbitrage_settings is alerted above this edge
ALERT_KIND = "arbitrage_opportunity"
# Withdrawal fees in the asset itself, for a venue and asset the warehouse has seen no withdrawal of (what was
# actually charged wins): a flat network fee per asset, on its cheapest common network (USDT over TRON, USD by
# wire). Approximate and on the high side, so that an edge is never overstated.
DEFAULT_WITHDRAWAL_FEE: dict[str, Decimal] = {
    "BTC": Decimal("0.0002"), "ETH": Decimal("0.0015"), "SOL": Decimal("0.01"), "BNB": Decimal("0.001"),
    "USDT": Decimal("1"), "USDC": Decimal("1"), "USD": Decimal("5"),
}


def shared_symbols(listed: Mapping[str, set[str]]) -> list[str]:
    """The symbols (venue → its symbols) quoted on two venues or more: the only ones a gap can be between."""
    counts: dict[str, int] = {}
    for symbols in listed.values():
        for s in symbols:
            counts[s] = counts.get(s, 0) + 1
    return sorted(s for s, n in counts.items() if n >= 2)


def transfer_cost(coin_fee: Decimal, coin_price: Decimal, quote_fee: Decimal) -> Decimal:
    """In the quote asset: withdrawing the coin bought from the buy venue to the sell venue (its fee priced at the
    buy venue's ask), then the quote received back from the sell venue to the buy venue, so the next round can
    start where it began."""
    return coin_fee * coin_price + quote_fee


def above_threshold(found: Sequence[Opportunity], threshold_bps: Decimal) -> list[Opportunity]:
    """The opportunities whose edge (net of every cost) is over the tenant's alert threshold."""
    return [o for o in found if o.edge_bps > threshold_bps]
