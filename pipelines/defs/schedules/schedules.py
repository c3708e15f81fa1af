"""Every schedule, from the tier table (tiers.py) in one loop. They start stopped: `coinbook run` never triggers
them; turn them on in the Dagster UI (`make dev`)."""

from collections.abc import Iterator

import dagster as dg

from pipelines.defs.common import TICK_TAG, TIER_TAG
from pipelines.defs.schedules.tiers import PLAIN_SCHEDULES, TIERS, Tier


def fan_out(source: str, tier: Tier) -> dg.ScheduleDefinition:
    """One run per account partition of `source`, tagged with the tier and the tick the follow-up sensor waits on."""

    @dg.schedule(name=f"{source}_{tier.name}_sync", cron_schedule=tier.cron, job_name=tier.sync_job.format(
        source=source), description=tier.description.format(source=source),
        default_status=dg.DefaultScheduleStatus.STOPPED, execution_timezone="UTC")
    def schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        tick = context.scheduled_execution_time.isoformat()
        for key in context.instance.get_dynamic_partitions(f"{source}_accounts"):
            yield dg.RunRequest(run_key=f"{tier.name}:{tick}:{key}", partition_key=key,
                                tags={TIER_TAG: tier.name, TICK_TAG: tick})

    return schedule


def build_schedules(venues: tuple[str, ...], wallet_sources: tuple[str, ...]) -> list[dg.ScheduleDefinition]:
    schedules = [fan_out(source, tier) for tier in TIERS
                 for source in (*venues, *(wallet_sources if tier.wallets else ()))]
    schedules += [dg.ScheduleDefinition(name=s.name, job_name=s.job, cron_schedule=s.cron, execution_timezone="UTC",
                                        default_status=dg.DefaultScheduleStatus.STOPPED, description=s.description)
                  for s in PLAIN_SCHEDULES]
    return schedules
