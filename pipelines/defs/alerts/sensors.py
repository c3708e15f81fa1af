"""Between runs: stale sources judged every few minutes, alerts raised, resolved and sent."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.domain.alerts import SOURCE_ALERT_KIND
from pipelines.services.alerts import evaluate_source_freshness


@dg.sensor(name="stale_sources", minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Raises ops.alerts for sources older than their freshness limit; resolves recovered ones.")
def stale_sources_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                         notifier: NotifierResource) -> dg.SkipReason:
    """It launches nothing: the schedules retry failed partitions on their next tick."""
    wh = warehouse.get()
    open_alerts, resolved = evaluate_source_freshness(wh, datetime.now(UTC))
    notifier.send(wh, [SOURCE_ALERT_KIND])
    return dg.SkipReason(f"{open_alerts} stale source(s) alerted, {resolved} resolved")
