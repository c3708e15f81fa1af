"""Lot engine at scale: 1,000,000 trades over 1,000 accounts and 50 assets (issue 5's benchmark).

    .venv/bin/python -m bench.bench_lots [trades]        (default 1,000,000)

For now it measures the reference engine (pipelines/domain/lots.py: Decimal arithmetic, one heap per book and
asset) per method — the "plain per-trade Python loop" that the fast engine will be compared with. The data is
generated deterministically: buys and sells at prices around a random walk, quantities on an 8-decimal grid.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipelines.domain.lots import LotEvent, Method, compute_lots


def generate(trades: int, accounts: int = 1_000, assets: int = 50, seed: int = 5) -> list[LotEvent]:
    rng = random.Random(seed)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    price = [rng.uniform(1, 50_000) for _ in range(assets)]
    held: dict[tuple[int, int], int] = {}  # in units of 1e-8, so sells never exceed what was bought
    events = []
    for n in range(trades):
        account, asset = rng.randrange(accounts), rng.randrange(assets)
        price[asset] *= 1 + rng.gauss(0, 0.002)
        units = rng.randint(1_000, 50_000_000)
        have = held.get((account, asset), 0)
        sell = have > 0 and rng.random() < 0.45
        if sell:
            units = min(units, have)
        held[(account, asset)] = have + (-units if sell else units)
        qty = Decimal(units).scaleb(-8)
        value = (qty * Decimal(repr(round(price[asset], 2)))).quantize(Decimal("0.01"))
        events.append(LotEvent(f"e{n}", f"acct{account}", f"A{asset}", start + timedelta(seconds=30 * n),
                               "dispose" if sell else "acquire", qty, value))
    return events


def main(trades: int = 1_000_000) -> None:
    started = time.perf_counter()
    events = generate(trades)
    print(f"generated {len(events):,} events ({sum(e.kind == 'dispose' for e in events):,} disposals) "
          f"in {time.perf_counter() - started:.1f} s")
    print(f"{'method':<10} {'reference engine s':>19} {'slices':>10} {'open lots':>10}")
    for method in (Method.FIFO, Method.LIFO, Method.HIFO, Method.AVERAGE):
        started = time.perf_counter()
        result = compute_lots(events, method)
        seconds = time.perf_counter() - started
        print(f"{method.value:<10} {seconds:>19.1f} {len(result.slices):>10,} {len(result.open_lots):>10,}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
