"""The whole pipeline, once, in-process: every account sync (one run per account partition, so one
failing account does not stop the others), then the market data (a run of its own), the quality gates and
every dbt model — a tier of pipelines/defs/schedules/tiers.py, run now instead of on its schedule.

Used by `coinbook run`, the integration tests and the benchmarks; it drives the same Dagster jobs the schedules
launch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from pipelines.defs.common import TIER_TAG
from pipelines.defs.schedules.tiers import market_job_of
from pipelines.defs.schedules.tiers import tier as tier_of
from pipelines.services.accounts import WALLET_SOURCES, accounts_of
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
                 full_refresh: bool = False) -> PipelineOutcome:
    """One tick of `tier` (tiers.py: 'nightly' syncs everything, 'fast' the exchange balances): every account's
    sync job, then the tier's market data, then its transform. `transform`: False stops after the market data
    (the API-cost benchmark); a job name runs that transform instead, after its own tier's market data (the
    resilience tests sync everything and build only up to positions). Runs are tagged 'manual'. `full_refresh`: the
    transform builds every dbt model again instead of keeping those whose inputs did not change
    (services/dbt_reuse.py)."""
    started = time.monotonic()
    plan = tier_of(tier)
    # The summary is the CLI's output; Dagster's per-event console log stays in the event log (UI) unless asked.
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    pipeline = PipelineOutcome()

    def run(job_name: str, partition: str | None = None, tags: dict[str, str] | None = None) -> None:
        job = defs.resolve_job_def(job_name)
        run_started = time.monotonic()
        result = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False,
                                        tags={TIER_TAG: "manual", **(tags or {})}, run_config=run_config)
        outcome = _outcome(job.name, partition, result, run_started)
        pipeline.runs.append(outcome)
        if on_run:
            on_run(outcome)

    for source in (*venues, *WALLET_SOURCES):
        keys = _register_partitions(instance, wh, source)
        if source in WALLET_SOURCES and not plan.wallets:
            continue  # e.g. the fast tier reads exchange balances only
        for key in keys:
            run(plan.sync_job.format(source=source), key)
    transform_job = transform if isinstance(transform, str) else plan.transform_job
    run(market_job_of(transform_job) or plan.market_job)  # the prices the transform needs, fetched just before it
    if transform:
        run(transform_job, tags={FULL_REFRESH_TAG: "true"} if full_refresh else None)
    pipeline.seconds = round(time.monotonic() - started, 2)
    return pipeline


def _register_partitions(instance: dg.DagsterInstance, wh: Warehouse, source: str) -> list[str]:
    """The partition keys of the source's enabled accounts, added to Dagster's partition set where missing."""
    partitions = f"{source}_accounts"
    keys = [a.partition_key for a in accounts_of(wh, source)]
    known = set(instance.get_dynamic_partitions(partitions))
    missing = [k for k in keys if k not in known]
    if missing:
        instance.add_dynamic_partitions(partitions, missing)
    return keys
