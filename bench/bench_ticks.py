"""Price-tick loading at the seed's scale: one day of 2.3 million ticks (issue 6's target).

    .venv/bin/python -m bench.bench_ticks [ticks]        (default 2,300,000)

Target: a day of ticks loads in ≤ 20 s and within 2× of a bare COPY of the same rows, measured in this run.
The day is generated in memory first (not timed): 5 venues × 30 symbols, prices on a random walk with each
symbol's own decimals (BTC 2, SHIB 8, …), sizes with 4–8 decimals, every value as text with epoch-ms times
(what `coinbook prices load-ticks` reads from a ccxt-style CSV). Then, on a fresh database:

  bare COPY     the final rows (exactly what lands in raw.price_ticks, hashes and payloads included) into a
                plain table with the same columns and no index or constraint, with the loader's own COPY
                writer; run before and after the loader, the faster one is the baseline
  first load    pipelines/services/prices.load_ticks from the delivered text: parse, validate, hash, COPY, index,
                attach — everything
  re-load       the same day again: every tick a duplicate, recognised by the (venue, day) digest
  re-load, row by row   the same, digest ignored: COPY to a temp table + insert … on conflict do nothing,
                the path of an overlapping file (shown for honesty, not part of the target)
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import numpy as np
import psycopg
import pyarrow as pa

from pipelines.services.prices import load_ticks
from pipelines.settings import get_settings
from pipelines.sources.prices.ticks import final_columns, iter_chunks, prepare_ticks
from warehouse.cluster import LocalCluster
from warehouse.loader import copy_arrow_chunks

VENUES = ("binance", "coinbase", "kraken", "bitfinex", "htx")
# symbol: (start price, decimals of its price)
SYMBOLS = {
    "BTC/USDT": (87_000, 2), "ETH/USDT": (3_100, 2), "SOL/USDT": (140, 3), "BNB/USDT": (600, 2),
    "XRP/USDT": (2.1, 4), "DOGE/USDT": (0.14, 5), "ADA/USDT": (0.42, 4), "TRX/USDT": (0.28, 5),
    "AVAX/USDT": (13, 3), "LINK/USDT": (13, 3), "DOT/USDT": (1.8, 4), "MATIC/USDT": (0.38, 4),
    "LTC/USDT": (82, 2), "BCH/USDT": (560, 2), "XLM/USDT": (0.24, 5), "ATOM/USDT": (2.4, 4),
    "UNI/USDT": (5.6, 4), "ETC/USDT": (13, 3), "FIL/USDT": (1.5, 4), "APT/USDT": (1.7, 4),
    "ARB/USDT": (0.2, 5), "OP/USDT": (0.3, 5), "NEAR/USDT": (1.6, 4), "AAVE/USDT": (170, 2),
    "SHIB/USDT": (0.0000078, 10), "PEPE/USDT": (0.000004, 11), "BTC/USDC": (87_010, 2),
    "ETH/BTC": (0.0356, 6), "SOL/BTC": (0.00161, 7), "ETH/EUR": (2_650, 2),
}
DAY_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def generate(n: int, seed: int = 6) -> pa.Table:
    """One day of ticks as a venue feed delivers them (all text), sorted by time."""
    rng = np.random.default_rng(seed)
    names = list(SYMBOLS)
    venue = rng.integers(0, len(VENUES), n)
    symbol = rng.integers(0, len(names), n)
    ms = np.sort(rng.integers(0, 86_400_000, n)) + DAY_MS
    group = venue * len(names) + symbol
    price_text = np.empty(n, dtype=object)
    size_text = np.empty(n, dtype=object)
    tick_id = np.empty(n, dtype=object)
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        start, decimals = SYMBOLS[names[g % len(names)]]
        venue_bias = 1 + rng.normal(0, 0.0005)  # venues quote slightly apart, as real ones do
        walk = start * venue_bias * np.exp(np.cumsum(rng.normal(0, 0.0002, len(rows))))
        price_text[rows] = np.char.mod(f"%.{decimals}f", walk).astype(object)
        size_decimals = int(rng.integers(4, 9))
        size_text[rows] = np.char.mod(f"%.{size_decimals}f", rng.exponential(2.0, len(rows))).astype(object)
        first_id = int(rng.integers(10**8, 10**9))
        tick_id[rows] = np.char.mod("%d", np.arange(first_id, first_id + len(rows))).astype(object)
    return pa.table({
        "venue": pa.array(np.array(VENUES, dtype=object)[venue], pa.string()),
        "symbol": pa.array(np.array(names, dtype=object)[symbol], pa.string()),
        "timestamp": pa.array(ms.astype(str).astype(object), pa.string()),
        "price": pa.array(price_text, pa.string()),
        "size": pa.array(size_text, pa.string()),
        "tick_id": pa.array(tick_id, pa.string()),
    })


BARE = """create table public.bare_ticks (
    tenant_id text, source text collate "C", source_record_id text collate "C", symbol text, base_asset text,
    quote_asset text, observed_at timestamptz, price numeric(38, 18), size numeric(38, 18), payload text,
    record_hash text, run_id text, ingested_at timestamptz default now())"""


def bare_copy(url: str, rows: list[pa.Table]) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists public.bare_ticks")
        conn.execute(BARE)
        conn.commit()
        started = time.perf_counter()
        with conn.transaction():
            copy_arrow_chunks(conn, "public.bare_ticks", rows)
        return time.perf_counter() - started


def main(n: int = 2_300_000) -> None:
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    name = f"bench_ticks_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    try:
        cluster.migrate(name)
        started = time.perf_counter()
        raw = generate(n)
        print(f"generated {raw.num_rows:,} ticks (5 venues × 30 symbols, one day) in "
              f"{time.perf_counter() - started:.1f} s (not timed below); load average {os.getloadavg()[0]:.1f}")
        batch = prepare_ticks(raw)  # only to materialise the baseline's rows: the loader prepares its own
        rows = [final_columns(c) for g in batch.groups for c in iter_chunks(batch.table, g.start, g.stop)]
        del batch

        results: list[tuple[str, int, int, float]] = []
        bare_before = bare_copy(url, rows)
        t0 = time.perf_counter()
        first = load_ticks(url, raw)
        first_s = time.perf_counter() - t0
        bare_after = bare_copy(url, rows)
        bare = min(bare_before, bare_after)
        t0 = time.perf_counter()
        again = load_ticks(url, raw)
        again_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        merged = load_ticks(url, raw, trust_digest=False)
        merged_s = time.perf_counter() - t0
        with psycopg.connect(url) as conn:
            stored = conn.execute("select count(*) from raw.price_ticks").fetchone()[0]  # type: ignore[index]
        results = [("bare COPY (baseline)", n, n, bare), ("first load", n, first.inserted, first_s),
                   ("re-load (digest)", n, again.inserted, again_s),
                   ("re-load (row by row)", n, merged.inserted, merged_s)]
        print(f"bare COPY runs: {bare_before:.2f} s before, {bare_after:.2f} s after the loader; "
              f"first load: {first.seconds['load']:.2f} s wall, in which {first.seconds['prepare']:.2f} s of "
              f"preparing (venue by venue) overlapped {first.seconds.get('copy', 0):.2f} s of COPY on 2 "
              f"connections, then index {first.seconds.get('index', 0):.2f} s, attach "
              f"{first.seconds.get('attach', 0):.2f} s, chain link {first.seconds.get('chain', 0):.2f} s (summed over "
              f"the connections); "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'':24}{'rows':>11}{'new rows':>11}{'seconds':>9}{'rows/s':>12}{'× bare':>8}")
        for label, rows_in, new, seconds in results:
            print(f"{label:24}{rows_in:>11,}{new:>11,}{seconds:>9.2f}{rows_in / seconds:>12,.0f}{seconds / bare:>8.2f}")
        ok_time, ok_ratio = first_s <= 20, first_s <= 2 * bare
        exact = first.inserted == n and again.inserted == 0 and merged.inserted == 0 and stored == n
        print(f"targets: first load ≤ 20 s {'met' if ok_time else 'MISSED'} ({first_s:.1f} s); "
              f"≤ 2× bare COPY {'met' if ok_ratio else 'MISSED'} ({first_s / bare:.2f}×); "
              f"exactly once {'yes' if exact else 'NO'} ({stored:,} rows stored)")
    finally:
        cluster.drop_database(name)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_300_000)
