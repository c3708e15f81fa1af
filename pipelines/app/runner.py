"""The whole pipeline, once, in-process: every account sync (one run per account partition, so one
failing account does not stop the others), then the market data (a run of its own), the quality gates and
every dbt model.

Used by `coinbook run` and by the integration tests; it drives the same Dagster jobs the schedules launch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from pipelines.assets.wallets import WALLET_SOURCES, accounts_of
from pipelines.jobs import MARKET_JOB_OF, TIER_TAG
from pipelines.resources.warehouse import Warehouse


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
                outcome.failed_checks.append(evaluation.asset_check_key.to_user_string())
    return outcome


def run_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance, wh: Warehouse, venues: tuple[str, ...],
                 on_run: Callable[[RunOutcome], None] | None = None, tier: str = "manual",
                 log_level: str = "WARNING", transform_job: str = "nightly_reconciliation",
                 sync: str = "account_sync") -> PipelineOutcome:
    """`sync` picks the per-account job: 'account_sync' (everything) or 'balances_sync' (the fast tier)."""
    started = time.monotonic()
    # The summary is the CLI's output; Dagster's per-event console log stays in the event log (UI) unless asked.
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    pipeline = PipelineOutcome()

    def record(outcome: RunOutcome) -> None:
        pipeline.runs.append(outcome)
        if on_run:
            on_run(outcome)

    for venue in (*venues, *WALLET_SOURCES):
        partitions = f"{venue}_accounts"
        keys = [a.partition_key for a in accounts_of(wh, venue)]
        known = set(instance.get_dynamic_partitions(partitions))
        missing = [k for k in keys if k not in known]
        if missing:
            instance.add_dynamic_partitions(partitions, missing)
        if venue in WALLET_SOURCES and sync != "account_sync":
            continue  # the fast tier reads exchange balances only
        job = defs.resolve_job_def(f"{venue}_account_sync" if venue in WALLET_SOURCES else f"{venue}_{sync}")
        for key in keys:
            run_started = time.monotonic()
            result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False,
                                            tags={TIER_TAG: tier}, run_config=run_config)
            record(_outcome(job.name, key, result, run_started))

    market_job = MARKET_JOB_OF.get(transform_job)
    if market_job is not None:  # the prices the transform needs, fetched just before it (jobs.MARKET_JOB_OF)
        market = defs.resolve_job_def(market_job)
        run_started = time.monotonic()
        result = market.execute_in_process(instance=instance, raise_on_error=False, tags={TIER_TAG: tier},
                                           run_config=run_config)
        record(_outcome(market.name, None, result, run_started))

    transform = defs.resolve_job_def(transform_job)
    run_started = time.monotonic()
    result = transform.execute_in_process(instance=instance, raise_on_error=False, tags={TIER_TAG: tier},
                                          run_config=run_config)
    record(_outcome(transform.name, None, result, run_started))
    pipeline.seconds = round(time.monotonic() - started, 2)
    return pipeline
