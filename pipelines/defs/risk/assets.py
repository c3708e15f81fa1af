"""Portfolio risk as a multi-asset: daily returns (marts.asset_returns) and positions in, derived.risk_* and the
risk alerts out (then sent). services/risk.py does it; marts/risk read the tables."""

from collections.abc import Iterator

import dagster as dg

from pipelines.defs.alerts.resources import NotifierResource
from pipelines.defs.common import WarehouseResource
from pipelines.services.risk import RISK_KINDS, TABLES, assess_risk


@dg.multi_asset(
    name="portfolio_risk",
    specs=[dg.AssetSpec(table, group_name="risk", kinds={"python", "postgres"},
                        deps=[dg.AssetKey("positions"), dg.AssetKey("asset_returns")],
                        description=f"derived.{table} (pipelines/domain/risk.py)") for table in TABLES],
    description="VaR/CVaR (historical, parametric, EWMA), backtest, correlations, volatilities, concentration and "
                "the circuit breaker per portfolio, from daily returns and positions; alerts into ops.alerts.",
)
def portfolio_risk(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   notifier: NotifierResource) -> Iterator[dg.MaterializeResult]:
    wh = warehouse.get()
    written, summary = assess_risk(wh, context.run_id)
    summary["notifications"] = str(notifier.send(wh, RISK_KINDS))  # never raises: a dead webhook fails no run
    for table, rows in written.items():
        yield dg.MaterializeResult(asset_key=table, metadata={"rows": rows, **summary})
