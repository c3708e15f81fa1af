"""Sanctions screening (issue 16 §2): its assets, checks and jobs. The lists are loaded by `coinbook compliance
load-sanctions`; dbt matches the counterparties (marts.screening_matches, screening_hits); this asset, after them in
the nightly job, raises a critical alert per open hit and sends it (services/screening.py does the work)."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.domain.screening import HIT_ALERT_KIND
from pipelines.services.screening import raise_hit_alerts


@dg.asset(
    name="screening_alerts", group_name="compliance", kinds={"python", "postgres"},
    deps=[dg.AssetKey("screening_hits")],
    description="A sanctions_hit alert (critical) in ops.alerts for every open hit of marts.screening_hits (a "
                "counterparty address on a sanctions list, not yet decided), sent to the notification targets; "
                "the alerts of hits decided since are resolved.",
)
def screening_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     notifier: NotifierResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    raised, resolved = raise_hit_alerts(wh, datetime.now(UTC))
    if raised:
        context.log.warning(f"{raised} open sanctions screening hits: coinbook compliance screening hits --open")
    return dg.MaterializeResult(metadata={"open_hits": raised, "resolved": resolved,
                                          "notifications": str(notifier.send(wh, [HIT_ALERT_KIND]))})


ASSETS: list[dg.AssetsDefinition] = [screening_alerts]
