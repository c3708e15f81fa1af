"""The quarterly compliance pack (issue 16 §3) on the demo world: target ≤ 60 s per tenant and quarter.

    .venv/bin/python -m bench.bench_compliance [quarter]

The sandbox world is built first (untimed) on a scratch database, as `coinbook run` builds it; then, for each
tenant, the pack (`write_compliance_pack`: queries, audit chain verification, CSVs, manifest, PDF) is timed, beside
the tax report of the same year (`write_tax_report`) as the baseline of the same run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from bench.scratch import scratch_world
from pipelines.app.runner import run_pipeline
from pipelines.services.reports.compliance import parse_quarter, write_compliance_pack
from pipelines.services.reports.tax import write_tax_report
from pipelines.services.venues import SEED_VENUES as VENUES

TARGET_SECONDS = 60.0


def main(quarter: str = "2026Q1") -> None:
    year, _ = parse_quarter(quarter)
    with scratch_world() as scratch:
        wh, tmp = scratch.wh, scratch.tmp
        t0 = time.perf_counter()
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # dbt's own log
            outcome = run_pipeline(scratch.defs, scratch.instance, wh, VENUES)
        failed = "" if outcome.success else " (FAILED)"
        print(f"demo world built in {time.perf_counter() - t0:.1f} s, untimed{failed}")
        with wh.connect() as conn:
            tenants = [t for (t,) in conn.execute("select tenant_id from ops.tenants order by tenant_id")]
        print(f"{'tenant':<10} {'pack s':>7} {'pages':>6} {'rows':>6} {'tax report s':>13}  "
              f"target ≤ {TARGET_SECONDS:.0f} s")
        for tenant in tenants:
            t1 = time.perf_counter()
            pack = write_compliance_pack(wh, tenant, quarter, Path(tmp) / "packs")
            seconds = time.perf_counter() - t1
            t2 = time.perf_counter()
            write_tax_report(wh, tenant, year, Path(tmp) / "tax")
            baseline = time.perf_counter() - t2
            rows = sum(entry.rows for entry in pack.data.manifest)
            verdict = "met" if seconds <= TARGET_SECONDS else "MISSED"
            print(f"{tenant:<10} {seconds:>7.1f} {pack.pages:>6} {rows:>6} {baseline:>13.1f}  {verdict}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
