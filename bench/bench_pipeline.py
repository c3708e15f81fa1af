"""End-to-end pipeline timing on the sandbox world: a cold run (empty warehouse) and a warm re-run.

    .venv/bin/python -m bench.bench_pipeline

Uses a fresh database on the private cluster and the sandbox on an ephemeral port, exactly as
`coinbook run` does (its sync lanes, COINBOOK_SYNC_LANES), and prints per-run wall time, new raw rows and exchange
API calls; "syncs s" is the account syncs' wall time.
"""

from __future__ import annotations

import contextlib
import os
import time

from bench.scratch import scratch_world
from pipelines.app.runner import run_pipeline
from pipelines.services.venues import SEED_VENUES as VENUES
from pipelines.settings import get_settings


def main() -> None:
    with scratch_world() as scratch:
        print(f"{'run':<6} {'wall s':>8} {'syncs s':>8} {'transform s':>12} {'new rows':>9} {'API calls':>10}")
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # dbt's own log
                outcome = run_pipeline(scratch.defs, scratch.instance, scratch.wh, VENUES,
                                       sync_lanes=get_settings().sync_lanes)
            wall = time.perf_counter() - t0
            syncs = outcome.sync_seconds
            transform = sum(r.seconds for r in outcome.runs if not r.partition)
            calls = sum(r.api_calls for r in outcome.runs)
            status = "" if outcome.success else "  (FAILED)"
            print(f"{label:<6} {wall:>8.1f} {syncs:>8.1f} {transform:>12.1f} {outcome.inserted:>9,} "
                  f"{calls:>10,}{status}")


if __name__ == "__main__":
    main()
