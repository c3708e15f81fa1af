"""The InfluxDB export as an asset, last in the nightly job (it reads what portfolio_risk wrote): incremental by
cursor, a failed export marks nothing as sent. services/exports.py does it."""

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.defs.exports.resources import InfluxResource
from pipelines.services.exports import export_to_influx
from pipelines.services.influx import ExportError


@dg.asset(
    name="influx_export", group_name="exports", kinds={"python", "influxdb"},
    deps=[dg.AssetKey("int_prices_daily"), dg.AssetKey("risk_var"), dg.AssetKey("risk_portfolios"),
          dg.AssetKey("risk_backtest")],
    description="Reference daily prices and portfolio risk metrics to InfluxDB 2, incrementally, when "
                "COINBOOK_INFLUX_URL is set; otherwise skipped at once.",
)
def influx_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  influx: InfluxResource) -> dg.MaterializeResult:
    target = influx.target()
    if target is None:
        return dg.MaterializeResult(metadata={"skipped": True, "reason": "COINBOOK_INFLUX_URL is not set"})
    try:
        summary = export_to_influx(warehouse.get(), target, batch_size=influx.batch_size,
                                   max_retries=influx.max_retries)
    except ExportError as exc:  # the cursors stay: the next run sends the same points again
        raise dg.Failure(description=f"InfluxDB export failed; nothing marked as sent: {exc}") from exc
    context.log.info(f"influx: {summary['price_points']} price points, {summary['risk_metrics']} risk metrics to "
                     f"{target.bucket}")
    return dg.MaterializeResult(metadata={"skipped": False, "target": dg.MetadataValue.url(target.url),
                                          "bucket": target.bucket, **summary})
