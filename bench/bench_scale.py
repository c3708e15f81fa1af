"""The nightly path at a given world size (issue 17): a cold run, a warm run with nothing new, and a run after one
day of new activity, each timed per step.

    .venv/bin/python -m bench.bench_scale demo
    .venv/bin/python -m bench.bench_scale 20x100000 --settle

`--settle` runs the cold run again before the warm one ("cold again"), until a run takes nothing new (at most
SETTLE_RUNS times; the table shows the last): at 100k trades the venues' request budgets hold rows back from the
first run (Bitfinex's 90 calls a minute: the market data run catches up on its minute candles a few thousand a
run), so the runs after it still have rows to take, and a warm run with nothing new needs one that had none.

The sandbox serves a world of that scale (`sandbox.world.Scale`: the demo's tenants plus generated ones), its
accounts are registered as `coinbook run` registers them, and `run_pipeline` drives the nightly tier as `coinbook
run` does. Times per step come from Dagster's own step events (STEP_START → STEP_SUCCESS/FAILURE) of each run:
the account syncs (one run per account, summed), the market data run, and each step of the transform run — the
quality gate, every dbt step, lots, risk and the rest. The day of new activity is `World.advance_day(1)`: the same
trades on every run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator

import dagster as dg

from bench.scratch import scratch_world
from pipelines.app.runner import PipelineOutcome, run_pipeline
from pipelines.services.venues import SEED_VENUES as VENUES
from pipelines.settings import get_settings
from sandbox.world import Scale

RUNS = ("cold", "warm", "day")
SETTLE_RUNS = 6
GATE_SUFFIX = "_great_expectations_gate"
STEP_EVENTS = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Each step's duration in one run, from its STEP_START to its STEP_SUCCESS or STEP_FAILURE event."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=set(STEP_EVENTS)):
        if entry.step_key is None or entry.dagster_event is None:
            continue
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif entry.step_key in started:
            out[entry.step_key] = entry.timestamp - started[entry.step_key]
    return out


def materialization_values(instance: dg.DagsterInstance, run_ids: list[str],
                           key: str) -> Iterator[tuple[str, object]]:
    """(asset, value) of metadata `key` on every materialization of the runs that carries it."""
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            event = entry.asset_materialization
            value = event.metadata.get(key) if event else None
            if event and value is not None:
                yield event.asset_key.to_user_string(), value.value


def slowest_models(instance: dg.DagsterInstance, outcome: PipelineOutcome, most: int = 8) -> list[tuple[str, float]]:
    """The dbt models that took longest in the transform run (dagster-dbt's 'Execution Duration' of each)."""
    transform = [r.run_id for r in outcome.runs if not r.partition and r.job != "market_data"]
    out = [(asset, float(seconds))  # type: ignore[arg-type]
           for asset, seconds in materialization_values(instance, transform, "Execution Duration")]
    return sorted(out, key=lambda item: -item[1])[:most]


def new_rows_by_asset(instance: dg.DagsterInstance, outcome: PipelineOutcome, most: int = 8) -> list[tuple[str, int]]:
    """Which assets took the run's new rows (their 'inserted' metadata, summed over the account runs)."""
    rows: dict[str, int] = defaultdict(int)
    for asset, inserted in materialization_values(instance, [r.run_id for r in outcome.runs], "inserted"):
        if isinstance(inserted, int) and inserted:
            rows[asset] += inserted
    return sorted(rows.items(), key=lambda item: -item[1])[:most]


def timed_steps(instance: dg.DagsterInstance, outcome: PipelineOutcome, lanes: int) -> dict[str, float]:
    """Seconds per row of the table: 'sync (N runs)' is the account syncs' wall time (`lanes` sources at once;
    Dagster's start-up included), 'market data' a whole run; the transform run is split into its steps, plus its
    overhead (wall minus steps)."""
    rows: dict[str, float] = defaultdict(float)
    syncs = [r for r in outcome.runs if r.partition]
    rows[f"sync ({len(syncs)} account runs, {lanes} lanes)"] = outcome.sync_seconds
    for run in outcome.runs:
        if run.partition:
            continue
        if run.job == "market_data":
            rows["market data run"] += run.seconds
            continue
        steps = step_seconds(instance, run.run_id)
        gates = [k for k in steps if k.endswith(GATE_SUFFIX)]
        for key, seconds in steps.items():  # the gate's suites (one step per raw table) as one row
            rows[f"quality gate ({len(gates)} suites)" if key in gates else key] += seconds
        rows[f"{run.job}: outside steps"] += max(0.0, run.seconds - sum(steps.values()))
    return rows


def main(scale_text: str = "demo", settle: bool = False, lanes: int | None = None) -> None:
    scale = Scale.parse(scale_text)
    lanes = lanes or get_settings().sync_lanes  # as `coinbook run` syncs
    with scratch_world(scale=scale) as scratch:
        sandbox, instance = scratch.sandbox, scratch.instance
        trades = sum(len(t) for t in sandbox.world.trades.values())
        print(f"world {scale.label}: {len(sandbox.world.accounts)} exchange accounts, {trades:,} trades, "
              f"generated in {scratch.generated_s:.1f} s", flush=True)
        table: dict[str, dict[str, float]] = {}
        totals: dict[str, tuple[float, int, bool]] = {}
        runs = ("cold", *(["cold again"] * SETTLE_RUNS if settle else []), "warm", "day")
        for n, label in enumerate(runs):
            if label == "cold again" and totals.get(label, totals["cold"])[1] == 0:
                continue  # settled: the last run took nothing new
            if label == "cold again":
                print(f"(cold again: run {n})", flush=True)
            if label == "day":
                added = sandbox.world.advance_day(1)
                print(f"day 1 of new activity: {sum(added.values()):,} trades", flush=True)
            t0 = time.perf_counter()
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # dbt's own log
                outcome = run_pipeline(scratch.defs, instance, scratch.wh, VENUES, sync_lanes=lanes)
            totals[label] = (time.perf_counter() - t0, outcome.inserted, outcome.success)
            steps = timed_steps(instance, outcome, lanes)
            for row, seconds in steps.items():
                table.setdefault(row, {})[label] = seconds
            slowest = ", ".join(f"{r} {s:.1f} s" for r, s in sorted(steps.items(), key=lambda i: -i[1])[:4])
            print(f"{label}: {totals[label][0]:.1f} s, {outcome.inserted:,} new rows ({slowest})", flush=True)
            models = ", ".join(f"{name} {seconds:.1f}" for name, seconds in slowest_models(instance, outcome))
            print(f"  {label}, slowest dbt models (s): {models or 'none built'}", flush=True)
            taken = ", ".join(f"{name} {rows:,}" for name, rows in new_rows_by_asset(instance, outcome))
            print(f"  {label}, new rows by asset: {taken or 'none'}", flush=True)
            for failure in (f for r in outcome.runs for f in r.failures + r.failed_checks):
                print(f"  {label}: {failure}")
        print_table(scale, table, totals)


def print_table(scale: Scale, table: dict[str, dict[str, float]], totals: dict[str, tuple[float, int, bool]]) -> None:
    """A Markdown table, ready for the README: one row per step (the slowest first), seconds per run."""
    runs = tuple(totals)
    print(f"\n| step ({scale.label}) | " + " | ".join(f"{r} s" for r in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for row in sorted(table, key=lambda r: -max(table[r].values())):
        if max(table[row].values()) >= 0.05:
            print(f"| {row} | " + " | ".join(f"{table[row].get(r, 0):.1f}" for r in runs) + " |")
    print("| **wall** | " + " | ".join(f"**{totals[r][0]:.1f}**" for r in runs) + " |")
    print("| new rows | " + " | ".join(f"{totals[r][1]:,}" for r in runs) + " |")
    if not all(ok for _, _, ok in totals.values()):
        print("(a run FAILED: see above)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    lanes_arg = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--lanes=")), None)
    main(args[0] if args else "demo", settle="--settle" in sys.argv[1:], lanes=lanes_arg)
