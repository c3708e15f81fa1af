"""Sensors of the tiers: the market data and then the transform that follow a tick's account syncs once all of
them have ended, and the back-fill of an account newly added to ops.accounts. They start stopped, like the
schedules."""

from collections.abc import Iterator, Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.defs.common import TICK_TAG, TIER_TAG, WarehouseResource
from pipelines.defs.schedules.tiers import BACKFILL, TIERS, Tier
from pipelines.services.accounts import accounts_of


def transform_follow_up(sync_job_names: Sequence[str],
                        jobs: Sequence[UnresolvedAssetJobDefinition]) -> dg.SensorDefinition:
    """When every account sync of a tick has finished (ok or failed), fetch that tier's market data, and when
    that has finished too, run the tier's transform; each once per tick. `jobs`: the market and transform jobs
    the tiers name."""
    tiers: dict[str, Tier] = {t.name: t for t in (*TIERS, BACKFILL)}
    market_names = {t.market_job for t in tiers.values()}
    named = {t.market_job for t in tiers.values()} | {t.transform_job for t in tiers.values()}
    if named != {j.name for j in jobs}:
        raise ValueError(f"the tiers name the jobs {sorted(named)}, given {sorted(j.name for j in jobs)}")

    @dg.sensor(name="transform_after_account_syncs", minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED, jobs=list(jobs),
               description="Once all account syncs of a tick have ended: the tick's market data, then the gate + "
                           "dbt transform.")
    def follow_up(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest]:
        ticks: dict[tuple[str, str], list[dg.DagsterRun]] = {}
        for run in context.instance.get_runs(limit=500):
            tier, tick = run.tags.get(TIER_TAG), run.tags.get(TICK_TAG)
            if (run.job_name in sync_job_names or run.job_name in market_names) and tier in tiers and tick:
                ticks.setdefault((tier, tick), []).append(run)
        for (name, tick), tick_runs in ticks.items():
            syncs = [r for r in tick_runs if r.job_name in sync_job_names]
            market = [r for r in tick_runs if r.job_name == tiers[name].market_job]
            if not syncs or not all(r.is_finished for r in syncs):
                continue
            tags = {TIER_TAG: name, TICK_TAG: tick}
            # run_key makes each request idempotent: Dagster launches a (tier, tick)'s runs once.
            if not market:
                yield dg.RunRequest(run_key=f"market:{name}:{tick}", job_name=tiers[name].market_job, tags=tags)
            elif all(r.is_finished for r in market):  # a failed venue's prices fall back; the models still run
                yield dg.RunRequest(run_key=f"transform:{name}:{tick}", job_name=tiers[name].transform_job,
                                    tags=tags)

    return follow_up


def new_account_sensor(source: str) -> dg.SensorDefinition:
    """An account added to ops.accounts gets its partition and a first, back-filling sync."""
    job_name = BACKFILL.sync_job.format(source=source)

    @dg.sensor(name=f"{source}_new_accounts", job_name=job_name, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description=f"Adds a partition for each new {source} account in ops.accounts and back-fills it.")
    def detect(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        partitions = f"{source}_accounts"
        known = set(context.instance.get_dynamic_partitions(partitions))
        new = [a.partition_key for a in accounts_of(warehouse.get(), source) if a.partition_key not in known]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"backfill:{k}", partition_key=k,
                                        tags={TIER_TAG: BACKFILL.name, TICK_TAG: f"backfill:{k}"}) for k in new],
            dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(partitions, new)] if new else [],
        )

    return detect
