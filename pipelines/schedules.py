"""Schedules: the fast tier (every account's balances, transfers and trades every 15 minutes) and the slow
tier (the same nightly, followed by the full transform). They start stopped: `coinbook run` never triggers
them; turn them on in the Dagster UI (`make dev`)."""

from collections.abc import Iterator

import dagster as dg

from pipelines.jobs import TICK_TAG, TIER_TAG


def account_fan_out(venue: str, job_name: str, tier: str, cron: str, description: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=f"{venue}_{tier}_sync", cron_schedule=cron, job_name=job_name, description=description,
                 default_status=dg.DefaultScheduleStatus.STOPPED, execution_timezone="UTC")
    def fan_out(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        tick = context.scheduled_execution_time.isoformat()
        for key in context.instance.get_dynamic_partitions(f"{venue}_accounts"):
            yield dg.RunRequest(run_key=f"{tier}:{tick}:{key}", partition_key=key,
                                tags={TIER_TAG: tier, TICK_TAG: tick})

    return fan_out
