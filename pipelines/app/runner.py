"""The whole pipeline, once, in-process: every account sync (one run per account partition, so one
failing account does not stop the others), then the market data (a run of its own), the quality gates and
every dbt model — a tier of pipelines/defs/schedules/tiers.py, run now instead of on its schedule.

Used by `coinbook run`, the integration tests and the benchmarks; it drives the same Dagster jobs the schedules
launch.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import dagster as dg
import sqlalchemy as sa

from pipelines.defs.common import TIER_TAG
from pipelines.defs.schedules.tiers import market_job_of
from pipelines.defs.schedules.tiers import tier as tier_of
from pipelines.services.accounts import WALLET_SOURCES, accounts_of
from pipelines.services.clients import budget_calls, merge_budget_calls
from pipelines.services.dbt_reuse import FULL_REFRESH_TAG
from warehouse.connection import Warehouse


@dataclass
class RunOutcome:
    job: str
    partition: str | None
    success: bool
    seconds: float
    run_id: str
    inserted: int = 0
    api_calls: int = 0
    failures: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)  # failed with WARN: e.g. a gate holding an account back


@dataclass
class PipelineOutcome:
    runs: list[RunOutcome] = field(default_factory=list)
    seconds: float = 0.0
    sync_seconds: float = 0.0  # the account syncs' wall time (less than their runs' sum when lanes overlap)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.runs)

    @property
    def inserted(self) -> int:
        return sum(r.inserted for r in self.runs)


def _outcome(job: str, partition: str | None, result: dg.ExecuteInProcessResult, started: float) -> RunOutcome:
    outcome = RunOutcome(job, partition, result.success, round(time.monotonic() - started, 2), result.run_id)
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        for key, target in (("inserted", "inserted"), ("api_calls", "api_calls")):
            value = metadata.get(key)
            if value is not None and isinstance(value.value, int):
                setattr(outcome, target, getattr(outcome, target) + value.value)
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None:  # the root cause, not Dagster's wrapper ("Error occurred while ...")
                error = error.cause
            outcome.failures.append(f"{event.step_key}: {error.message.strip()[:300]}")
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation is not None and not evaluation.passed:
                warned = evaluation.severity == dg.AssetCheckSeverity.WARN
                (outcome.warned_checks if warned else outcome.failed_checks).append(
                    evaluation.asset_check_key.to_user_string())
    return outcome


def run_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance, wh: Warehouse, venues: tuple[str, ...],
                 on_run: Callable[[RunOutcome], None] | None = None, *, tier: str = "nightly",
                 transform: bool | str = True, log_level: str = "WARNING",
                 full_refresh: bool = False, sync_lanes: int = 1) -> PipelineOutcome:
    """One tick of `tier` (tiers.py: 'nightly' syncs everything, 'fast' the exchange balances): every account's
    sync job, then the tier's market data, then its transform. `transform`: False stops after the market data
    (the API-cost benchmark); a job name runs that transform instead, after its own tier's market data (the
    resilience tests sync everything and build only up to positions). Runs are tagged 'manual'. `full_refresh`: the
    transform builds every dbt model again instead of keeping those whose inputs did not change
    (services/dbt_reuse.py).

    `sync_lanes` > 1: the account syncs of that many sources at once, each in a process of its own forked from this
    one (a lane per venue or chain: its accounts one after another). Within a venue nothing changes — one account
    at a time, ccxt's pacing, the venue's request budget (kept per process: the lane hands its calls back, and the
    market data run here spends only what is left of the venue's minute) — but venues, which wait on different
    servers, and the cores overlap. Processes, not threads: Dagster configures Python's logging at each run's start
    (`logging.config.dictConfig`, with any dagster.yaml settings), which deadlocks against another thread's run
    logging at the same moment (found: the first try hung). Needs a run storage the processes share (Postgres, as
    `coinbook run`'s; an ephemeral instance's is in memory: its syncs run one after another) and `fork`.
    """
    started = time.monotonic()
    plan = tier_of(tier)
    _hold_storage_connections(instance)
    # The summary is the CLI's output; Dagster's per-event console log stays in the event log (UI) unless asked.
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    pipeline = PipelineOutcome()

    def execute(job_name: str, partition: str | None = None, tags: dict[str, str] | None = None) -> RunOutcome:
        job = defs.resolve_job_def(job_name)
        run_started = time.monotonic()
        result = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False,
                                        tags={TIER_TAG: "manual", **(tags or {})}, run_config=run_config)
        return _outcome(job.name, partition, result, run_started)

    def run(job_name: str, partition: str | None = None, tags: dict[str, str] | None = None) -> RunOutcome:
        outcome = execute(job_name, partition, tags)
        if on_run:
            on_run(outcome)
        return outcome

    lanes: list[Lane] = []
    for source in (*venues, *WALLET_SOURCES):
        keys = _register_partitions(instance, wh, source)
        if source in WALLET_SOURCES and not plan.wallets:
            continue  # e.g. the fast tier reads exchange balances only
        lanes.append([(plan.sync_job.format(source=source), key) for key in keys])

    sync_started = time.monotonic()
    if sync_lanes > 1 and len(lanes) > 1 and not instance.is_ephemeral and "fork" in mp.get_all_start_methods():
        pipeline.runs.extend(_sync_in_lanes(lanes, sync_lanes, execute, instance, on_run))
    else:
        for lane in lanes:
            for job_name, key in lane:
                pipeline.runs.append(run(job_name, key))
    pipeline.sync_seconds = round(time.monotonic() - sync_started, 2)
    transform_job = transform if isinstance(transform, str) else plan.transform_job
    # the prices the transform needs, fetched just before it
    pipeline.runs.append(run(market_job_of(transform_job) or plan.market_job))
    if transform:
        pipeline.runs.append(run(transform_job, tags={FULL_REFRESH_TAG: "true"} if full_refresh else None))
    pipeline.seconds = round(time.monotonic() - started, 2)
    return pipeline


_holding: weakref.WeakSet[dg.DagsterInstance] = weakref.WeakSet()


def _hold_storage_connections(instance: dg.DagsterInstance) -> None:
    """dagster-postgres opens a new connection for every event it stores (NullPool: no instance holds connections
    it may not need); a run with ~250 dbt nodes stores a thousand events or more, and the connections cost more
    than the runs' work (measured, demo, a warm `coinbook run`: 71.9 s). The storages' engines are made to keep
    one connection open, as Dagster's webserver has them (no statement timeout here: a run's queries are its own).
    Once per instance; not for an in-memory one."""
    if instance.is_ephemeral or instance in _holding:
        return
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    _holding.add(instance)


def _forget_inherited_connections() -> None:
    """In a lane's process, first: the storages' pooled connections are the parent's sockets; drop them without
    closing them (SQLAlchemy's way after a fork), so this process opens its own."""
    assert _lane_instance is not None
    for storage in (_lane_instance.run_storage, _lane_instance.event_log_storage, _lane_instance.schedule_storage):
        engine = getattr(storage, "_engine", None)
        if isinstance(engine, sa.Engine):
            engine.dispose(close=False)


Lane = list[tuple[str, str]]  # one source's (sync job, account partition)s, in order
Execute = Callable[[str, str], RunOutcome]
# set just before the lanes' processes are forked: they inherit them
_lane_execute: Execute | None = None
_lane_instance: dg.DagsterInstance | None = None


def _sync_lane(lane: Lane) -> tuple[list[RunOutcome], dict[str, tuple[int | None, list[float]]]]:
    """In a lane's process: its accounts one after another, then the request budgets' calls, for the parent."""
    assert _lane_execute is not None, "a sync lane runs in a process forked by _sync_in_lanes"
    return [_lane_execute(job_name, key) for job_name, key in lane], budget_calls()


def _sync_in_lanes(lanes: list[Lane], workers: int, execute: Execute, instance: dg.DagsterInstance,
                   on_run: Callable[[RunOutcome], None] | None) -> list[RunOutcome]:
    """Every lane in a pool of `workers` forked processes, the longest lanes first (the last to start is a short
    one); each lane's outcomes reported as it ends; all returned in the lanes' order, as one after another would."""
    global _lane_execute, _lane_instance
    _lane_execute, _lane_instance = execute, instance
    done: dict[int, list[RunOutcome]] = {}
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(lanes)), mp_context=mp.get_context("fork"),
                                 initializer=_forget_inherited_connections) as pool:
            futures = {pool.submit(_sync_lane, lanes[i]): i
                       for i in sorted(range(len(lanes)), key=lambda i: -len(lanes[i]))}
            for future in as_completed(futures):
                lane = lanes[futures[future]]
                try:
                    outcomes, calls = future.result()
                    merge_budget_calls(calls)
                except Exception as exc:  # the lane's process failed outside Dagster (or died): its accounts
                    # failed, the other lanes go on (a failing source does not stop the others)
                    outcomes = [RunOutcome(job_name, key, False, 0.0, "", failures=[
                        f"sync lane ({job_name}): {type(exc).__name__}: {str(exc)[:300]}"]) for job_name, key in lane]
                done[futures[future]] = outcomes
                for outcome in outcomes:
                    if on_run:
                        on_run(outcome)
    finally:
        _lane_execute, _lane_instance = None, None
    return [outcome for i in range(len(lanes)) for outcome in done[i]]


def _register_partitions(instance: dg.DagsterInstance, wh: Warehouse, source: str) -> list[str]:
    """The partition keys of the source's enabled accounts, added to Dagster's partition set where missing."""
    partitions = f"{source}_accounts"
    keys = [a.partition_key for a in accounts_of(wh, source)]
    known = set(instance.get_dynamic_partitions(partitions))
    missing = [k for k in keys if k not in known]
    if missing:
        instance.add_dynamic_partitions(partitions, missing)
    return keys
