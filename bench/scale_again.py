"""The nightly's warm and day runs on a world too big to sync over HTTP in a bench (issue 17: 50 tenants / 1M
trades), on the database `bench.fill_raw --keep` built and kept:

    .venv/bin/python -m bench.fill_raw 50x1000000 --keep        # prints: database kept: bench_…
    .venv/bin/python -m bench.scale_again 50x1000000 --database bench_…  [--runs warm,day] [--day 2]

The runs, each timed per step (bench_scale.timed_steps):
  again  the transform with this checkout's code (what changed since the database was built is built again: after
         a change to the models, every model it touches; else nothing);
  warm   nothing new: the wallets' syncs, the market data and the transform, as the nightly runs them after its
         account syncs;
  day    one day of new activity (`World.advance_day(1)`: the same trades on every run), the exchange accounts
         synced in-process as `fill_raw` syncs them (the sync's own code; only the new rows: cursors), then the
         same as warm.
The exchange accounts' syncs over HTTP are what `bench_scale` measures at 100k (~1.2 s an account with nothing new,
4 lanes); here they are in-process, so the table is the transform's and the in-process fill's.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.bench_scale import print_table
from bench.fill_raw import fill_exchanges, transform
from bench.scratch import scratch_world
from sandbox.world import Scale

RUNS = ("again", "warm", "day")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.scale_again", description=__doc__.split("\n\n")[0])
    parser.add_argument("scale", help="the scale the database was built at: 20x100000, 50x1000000")
    parser.add_argument("--database", required=True, help="the database bench.fill_raw --keep kept")
    parser.add_argument("--runs", default=",".join(RUNS), help="which of again,warm,day (in that order)")
    parser.add_argument("--day", type=int, default=1,
                        help="the day of new activity (each day's trades are the same on every run: a database "
                             "that took day 1 takes day 2 next; days 1 to N-1 are replayed in the sandbox first)")
    args = parser.parse_args(argv)
    runs = tuple(r for r in RUNS if r in args.runs.split(","))
    scale = Scale.parse(args.scale)
    table: dict[str, dict[str, float]] = {}
    walls: dict[str, tuple[float, int, bool]] = {}
    with scratch_world(malformed=True, scale=scale, database=args.database) as scratch:
        print(f"{args.database} at {scale.label}, world generated again in {scratch.generated_s:.0f} s", flush=True)
        # the days the database took before, replayed in the sandbox without syncing: a cursor that names a record
        # (Coinbase's starting_after) must find it there ("starting_after is not a known id" otherwise)
        for earlier in range(1, args.day):
            scratch.sandbox.world.advance_day(earlier)
        for label in runs:
            t0 = time.perf_counter()
            inserted = 0
            if label == "day":
                added = scratch.sandbox.world.advance_day(args.day)
                filled = fill_exchanges(scratch.wh, scratch.url, scratch.sandbox, scratch.tmp)
                inserted = filled.inserted
                table.setdefault("fill (exchange accounts, in-process)", {})[label] = filled.seconds
                print(f"day {args.day}: {sum(added.values()):,} trades, {filled.inserted:,} raw rows filled in "
                      f"{filled.seconds:.0f} s; {len(filled.failures)} failures", flush=True)
                for failure in filled.failures[:10]:
                    print(f"  fill: {failure}", flush=True)
            outcome, steps = transform(scratch)
            walls[label] = (time.perf_counter() - t0, inserted + outcome.inserted, outcome.success)
            for step, seconds in steps.items():
                table.setdefault(step, {})[label] = seconds
            slowest = ", ".join(f"{s} {t:.1f}" for s, t in sorted(steps.items(), key=lambda i: -i[1])[:5])
            print(f"{label}: {walls[label][0]:.1f} s (load {os.getloadavg()[0]:.1f}): {slowest}", flush=True)
            for failure in (f for r in outcome.runs for f in r.failures + r.failed_checks):
                print(f"  {label}: {failure}")
    print_table(scale, table, walls)


if __name__ == "__main__":
    main()
