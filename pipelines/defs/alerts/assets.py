"""Freshness as assets, so every tier judges it after its syncs (and `coinbook summary` only reads): stale sources
(an account's endpoint that has not synced within its limit) and stale prices (a held asset whose price lags the
market). services/alerts.py raises and resolves; the notifier sends."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.domain.alerts import PRICE_ALERT_KIND, SOURCE_ALERT_KIND
from pipelines.services.alerts import evaluate_price_freshness, evaluate_source_freshness


@dg.asset(
    name="price_freshness", group_name="alerts", kinds={"python", "postgres"},
    deps=[dg.AssetKey("positions"), dg.AssetKey("int_prices_latest")],
    description="A stale_price alert per held asset whose latest price lags the market clock by more than its "
                "tenant's limit (ops.risk_limits, default 60 min), resolved when it catches up; sent to the "
                "notification targets.",
)
def price_freshness(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    notifier: NotifierResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    stale_open, resolved = evaluate_price_freshness(wh, datetime.now(UTC))
    return dg.MaterializeResult(metadata={"stale_open": stale_open, "resolved": resolved,
                                          "notifications": str(notifier.send(wh, [PRICE_ALERT_KIND]))})


@dg.asset(
    name="source_freshness", group_name="alerts", kinds={"python", "postgres"},
    description="A stale_source alert per account and endpoint whose last successful sync is older than its limit "
                "(ops.freshness_limits, default the venue's), resolved when it catches up; sent to the "
                "notification targets. The stale_sources sensor judges the same between runs.",
)
def source_freshness(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     notifier: NotifierResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    stale_open, resolved = evaluate_source_freshness(wh, datetime.now(UTC))
    return dg.MaterializeResult(metadata={"stale_open": stale_open, "resolved": resolved,
                                          "notifications": str(notifier.send(wh, [SOURCE_ALERT_KIND]))})
