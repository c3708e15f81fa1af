"""Execution routing on the sandbox's order books (issue 18 §2): routed vs "everything on the home venue".

    .venv/bin/python -m bench.bench_routing

Books: `sandbox.matching.order_book` for every venue's USD/USDT market of BTC, ETH and SOL at the world's last
hour (each venue's price basis, spread, depth and tick/step as the sandbox serves them). Fees: each venue's taker
rate (`world.FEE_RULES`). Routing to a venue other than home first moves what the order pays with there: the
quote's network fee for a buy (USDT over TRX, USD by wire), the coin's network fee for a sale. Cost: the all-in
cost against the coin's fair USD price, in basis points of the notional. Orders: every coin × side × home venue ×
notional (10k, 100k, 1M, 5M USD).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from decimal import Decimal

from pipelines.domain.routing import Level, VenueBook, naive, route
from sandbox.matching import order_book
from sandbox.world import DEFAULT_SEED, FEE_RULES, NETWORK_FEE, VENUE_MARKETS, VENUES, PricePath

SIZES_USD = (Decimal("10000"), Decimal("100000"), Decimal("1000000"), Decimal("5000000"))
COINS = ("BTC", "ETH", "SOL")


def books_for(coin: str, side: str, home: str, prices: PricePath, hour: int) -> tuple[list[VenueBook], Decimal]:
    fair = Decimal(str(prices.coin_usd(coin, hour)))
    books = []
    for venue in VENUES:
        market = next(m for m in VENUE_MARKETS[venue] if m.base == coin and m.quote in ("USD", "USDT"))
        mid = Decimal(str(prices.market_close(market, hour)))
        bids, asks = order_book(market, mid)
        levels = asks if side == "buy" else bids
        moved = NETWORK_FEE[market.quote] if side == "buy" else NETWORK_FEE[coin] * fair
        books.append(VenueBook(venue, tuple(Level(lv.price, lv.qty) for lv in levels),
                               taker_fee=FEE_RULES[venue][0], amount_step=market.step,
                               transfer_cost=Decimal(0) if venue == home else moved))
    return books, fair


def main() -> None:
    prices = PricePath(DEFAULT_SEED)
    hour = prices.hours - 1
    started = time.perf_counter()
    by_size: dict[Decimal, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    worse = 0
    for coin in COINS:
        for side in ("buy", "sell"):
            for home in VENUES:
                books, fair = books_for(coin, side, home, prices, hour)  # the same books for every size
                for size in SIZES_USD:
                    amount = (size / fair).quantize(Decimal("0.0001"))
                    routed, plain = route(books, amount, side), naive(books, home, amount, side)
                    if plain.filled < amount:  # the home book is too thin: compare on what both filled
                        routed = route(books, plain.filled, side)
                    if routed.all_in > plain.all_in if side == "buy" else routed.all_in < plain.all_in:
                        worse += 1
                    by_size[size].append((plain.cost_bps(fair), routed.cost_bps(fair)))
    elapsed = time.perf_counter() - started
    print(f"{'order (USD)':>12}  {'orders':>6}  {'home venue bps':>14}  {'routed bps':>10}  {'saving':>7}")
    all_naive = all_routed = Decimal(0)
    for size, pairs in sorted(by_size.items()):
        n = Decimal(len(pairs))
        home_bps = sum((p for p, _ in pairs), Decimal(0)) / n
        routed_bps = sum((r for _, r in pairs), Decimal(0)) / n
        all_naive, all_routed = all_naive + home_bps, all_routed + routed_bps
        print(f"{size:>12,.0f}  {len(pairs):>6}  {home_bps:>14.1f}  {routed_bps:>10.1f}  "
              f"{(home_bps - routed_bps) / home_bps:>7.1%}")
    print(f"{'all':>12}  {sum(len(p) for p in by_size.values()):>6}  {all_naive / len(by_size):>14.1f}  "
          f"{all_routed / len(by_size):>10.1f}  {(all_naive - all_routed) / all_naive:>7.1%}")
    print(f"routed worse than home: {worse} orders; {elapsed:.1f} s for "
          f"{sum(len(p) for p in by_size.values())} orders")
    if worse:
        sys.exit("the router did worse than the home venue on some order")


if __name__ == "__main__":
    main()
