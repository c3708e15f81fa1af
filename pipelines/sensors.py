"""Sensors: the market data and then the transform that follow a tick's account syncs once all of them have
ended, and the back-fill of an account newly added to ops.accounts. They start stopped, like the schedules."""

from collections.abc import Iterator, Sequence

import dagster as dg

from pipelines.jobs import TICK_TAG, TIER_TAG
from pipelines.resources.warehouse import WarehouseResource
from pipelines.sources.exchanges.client import partition_key


def transform_follow_up(sync_job_names: Sequence[str], tier_jobs: dict[str, "dg.UnresolvedAssetJobDefinition"],
                        market_jobs: dict[str, "dg.UnresolvedAssetJobDefinition"]) -> dg.SensorDefinition:
    """When every account sync of a tick has finished (ok or failed), fetch that tier's market data, and when
    that has finished too, run the tier's transform; each once per tick."""
    market_names = {job.name for job in market_jobs.values()}

    @dg.sensor(name="transform_after_account_syncs", minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED,
               jobs=list({j.name: j for j in [*tier_jobs.values(), *market_jobs.values()]}.values()),
               description="Once all account syncs of a tick have ended: the tick's market data, then the gate + "
                           "dbt transform.")
    def follow_up(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest]:
        ticks: dict[tuple[str, str], list[dg.DagsterRun]] = {}
        for run in context.instance.get_runs(limit=500):
            tier, tick = run.tags.get(TIER_TAG), run.tags.get(TICK_TAG)
            if (run.job_name in sync_job_names or run.job_name in market_names) and tier in tier_jobs and tick:
                ticks.setdefault((tier, tick), []).append(run)
        for (tier, tick), tick_runs in ticks.items():
            syncs = [r for r in tick_runs if r.job_name in sync_job_names]
            market = [r for r in tick_runs if r.job_name == market_jobs[tier].name]
            if not syncs or not all(r.is_finished for r in syncs):
                continue
            tags = {TIER_TAG: tier, TICK_TAG: tick}
            # run_key makes each request idempotent: Dagster launches a (tier, tick)'s runs once.
            if not market:
                yield dg.RunRequest(run_key=f"market:{tier}:{tick}", job_name=market_jobs[tier].name, tags=tags)
            elif all(r.is_finished for r in market):  # a failed venue's prices fall back; the models still run
                yield dg.RunRequest(run_key=f"transform:{tier}:{tick}", job_name=tier_jobs[tier].name, tags=tags)

    return follow_up


def new_account_sensor(venue: str, job_name: str) -> dg.SensorDefinition:
    """An account added to ops.accounts gets its partition and a first, back-filling sync."""

    @dg.sensor(name=f"{venue}_new_accounts", job_name=job_name, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description=f"Adds a partition for each new {venue} account in ops.accounts and back-fills it.")
    def detect(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        partitions = f"{venue}_accounts"
        known = set(context.instance.get_dynamic_partitions(partitions))
        from pipelines.assets.wallets import accounts_of

        accounts = [partition_key(a.tenant_id, a.account_id) for a in accounts_of(warehouse.get(), venue)]
        new = [k for k in accounts if k not in known]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"backfill:{k}", partition_key=k,
                                        tags={TIER_TAG: "backfill", TICK_TAG: f"backfill:{k}"}) for k in new],
            dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(partitions, new)] if new else [],
        )

    return detect


def stale_sources_sensor() -> dg.SensorDefinition:
    """Every few minutes: a source older than its freshness limit raises an alert in ops.alerts (and a source
    that caught up resolves it). It launches nothing: the schedules retry failed partitions on their next tick."""

    @dg.sensor(name="stale_sources", minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Raises ops.alerts for sources older than their freshness limit; resolves recovered ones.")
    def stale(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
        from datetime import UTC, datetime

        from pipelines.freshness import evaluate_freshness

        open_alerts, resolved = evaluate_freshness(warehouse.get(), datetime.now(UTC))
        return dg.SkipReason(f"{open_alerts} stale source(s) alerted, {resolved} resolved")

    return stale
