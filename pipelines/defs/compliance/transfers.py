"""Large and unhosted-wallet transfers and the KYC register (issue 16 §2): their assets, checks and jobs. The two
transfer marts and marts.kyc_status are dbt models (models/marts/compliance); this module raises the KYC alerts
after them, in the nightly job (every asset but ingestion)."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.services.compliance import KYC_ALERT_KINDS, raise_kyc_alerts


@dg.asset(
    name="kyc_alerts", group_name="compliance", kinds={"python", "postgres"}, deps=[dg.AssetKey("kyc_status")],
    description="An alert per tenant without valid KYC (marts.kyc_status): kyc_review_overdue (warning) when a "
                "review is past due, kyc_invalid otherwise (critical: none recorded, rejected, expired; warning: "
                "pending), and kyc_review_due (warning) when a valid record's next review is 30 days away or "
                "less; resolved once valid again (or reviewed); sent to the notification targets.",
)
def kyc_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               notifier: NotifierResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    statuses = raise_kyc_alerts(wh, datetime.now(UTC))
    invalid = [s for s in statuses if not s.kyc_valid]
    for s in invalid:
        context.log.warning(f"{s.tenant_id}: KYC not valid ({s.reason}): {s.reason_detail}")
    return dg.MaterializeResult(metadata={
        "tenants": len(statuses), "not_valid": [s.tenant_id for s in invalid],
        "overdue": [s.tenant_id for s in statuses if s.review_overdue],
        "notifications": str(notifier.send(wh, KYC_ALERT_KINDS))})


ASSETS: list[dg.AssetsDefinition] = [kyc_alerts]
