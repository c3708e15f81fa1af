"""Rebalancing proposals (issue 18 §1) as an asset after positions and the circuit breaker: a few lines around
services/trading.py. Nothing is ever sent from here: a proposal waits for a manager's approval."""

from datetime import UTC, datetime

import dagster as dg

from pipelines.defs.common import WarehouseResource
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.services.trading import propose_all


@dg.asset(
    name="rebalance_proposals", group_name="trading", kinds={"python", "postgres"},
    deps=[dg.AssetKey("positions"), dg.AssetKey("circuit_breaker"), dg.AssetKey("asset_returns")],
    description="Per portfolio with targets (coinbook trading targets set): the drift of each asset against its "
                "band and, when one is outside, the orders that bring it back (the venue's steps, minimums and "
                "fees, free balances), the expected cost and the 1-day 99 % VaR before/after, in "
                "ops.rebalance_proposals. Blocked while the portfolio's circuit breaker is open. Awaits approval.",
)
def rebalance_proposals(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                        exchanges: ExchangeResource) -> dg.MaterializeResult:
    recorded, problems = propose_all(warehouse.get(), exchanges.get(), datetime.now(UTC))
    for problem in problems:
        context.log.warning(problem)
    return dg.MaterializeResult(metadata={
        "proposals": len(recorded), "blocked": sum(p.blocked for p in recorded),
        "orders": sum(p.orders for p in recorded), "problems": problems})


ASSETS: list[dg.AssetsDefinition] = [rebalance_proposals]
