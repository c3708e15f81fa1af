"""The nightly verification of the audit chain: what was chained since the last checkpoint recomputed, today's
checkpoint written, a critical alert (and its notification) on a break. services/audit.py does the work."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.services.audit import AUDIT_ALERT_KIND, nightly_verification


@dg.asset(
    name="audit_chain", group_name="audit", kinds={"python", "postgres"},
    description="Each tenant's audit chain (audit.chain) verified from its last checkpoint: links recomputed, every "
                "chained record's content hash compared; today's checkpoint (audit.checkpoints) written for an "
                "intact chain, an audit_chain_broken alert (critical) for a broken one, sent to the notification "
                "targets.",
)
def audit_chain(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                notifier: NotifierResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    verdicts, written = nightly_verification(wh, datetime.now(UTC))
    for verdict in verdicts:
        for line in verdict.describe():
            (context.log.info if verdict.intact else context.log.error)(line)
    return dg.MaterializeResult(metadata={
        "tenants": len(verdicts), "broken": [v.tenant_id for v in verdicts if not v.intact],
        "links_checked": sum(v.links_checked for v in verdicts), "checkpoints_written": written,
        "notifications": str(notifier.send(wh, [AUDIT_ALERT_KIND]))})
