"""Optional export to InfluxDB 2 (services/influx.py writes) of the reference daily prices and the portfolio risk
metrics, for teams that chart them in Grafana. Off unless COINBOOK_INFLUX_URL is set (with COINBOOK_INFLUX_TOKEN,
_ORG, _BUCKET; _BATCH_SIZE and _MAX_RETRIES tune the writer).

Incremental, with cursors in ops.export_cursors per target (URL, org, bucket) and stream:
- prices: per asset, the last price_date sent. A run sends that day again (its close may have moved while the
  day was open; InfluxDB keeps one point per series and time, so a resent point replaces itself) and every day
  after it. A new asset is sent whole. (A day before the cursor that changes later — a venue's candles back-filled
  — is not sent again; clear the asset's cursor to resend it.)
- risk: the portfolio_risk run whose figures were sent; the risk tables hold one run's figures, sent whole when a
  new run has replaced them.
A cursor moves only after every batch was accepted: a failed export (the asset fails) is sent again next run.
"""

import hashlib
from datetime import UTC, date, datetime, time
from typing import Any

from pipelines.constants import PUBLIC_TENANT
from pipelines.services.influx import InfluxTarget, PriceTick, RiskMetric, export
from warehouse.connection import Warehouse
from warehouse.exports import save_export_cursors

EXPORTER = "influx"
RISK_STREAM = "portfolio_risk"
PRICE_STREAM = "prices_daily:"  # + asset


def target_key(target: InfluxTarget) -> str:
    """The cursors belong to one destination: pointing the export elsewhere starts from the beginning there."""
    return hashlib.sha256(f"{target.url}\n{target.org}\n{target.bucket}".encode()).hexdigest()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def risk_metrics(var_rows: list[tuple[Any, ...]], portfolio_rows: list[tuple[Any, ...]],
                 backtest_rows: list[tuple[Any, ...]]) -> list[RiskMetric]:
    """derived.risk_* rows → one metric per figure, stamped at the day the figures describe (as_of)."""
    metrics = []
    for tenant, portfolio, as_of, method, confidence, horizon, var, cvar, var_overlap, cvar_overlap in var_rows:
        name = f"{round(confidence * 100)}_{horizon}d_{method}"
        metrics += [RiskMetric(tenant, portfolio, f"var_{name}", midnight(as_of), var),
                    RiskMetric(tenant, portfolio, f"cvar_{name}", midnight(as_of), cvar)]
        if var_overlap is not None:  # the historical multi-day figures from overlapping windows (V022), beside √h
            metrics += [RiskMetric(tenant, portfolio, f"var_{name}_overlapping", midnight(as_of), var_overlap),
                        RiskMetric(tenant, portfolio, f"cvar_{name}_overlapping", midnight(as_of), cvar_overlap)]
    for tenant, portfolio, as_of, value, hhi, shift, shift_max, breaker_open in portfolio_rows:
        at = midnight(as_of)
        metrics += [RiskMetric(tenant, portfolio, "value_usd", at, value),
                    RiskMetric(tenant, portfolio, "hhi", at, hhi),
                    RiskMetric(tenant, portfolio, "correlation_shift", at, shift),
                    RiskMetric(tenant, portfolio, "correlation_shift_max", at, shift_max),
                    RiskMetric(tenant, portfolio, "breaker_open", at, 1.0 if breaker_open else 0.0)]
    for tenant, portfolio, as_of, exceptions, p_value in backtest_rows:
        metrics += [RiskMetric(tenant, portfolio, "var_backtest_exceptions", midnight(as_of), float(exceptions)),
                    RiskMetric(tenant, portfolio, "var_backtest_p_value", midnight(as_of), p_value)]
    return metrics


PRICES_SQL = """
select p.asset, p.price_date, p.close_usd, p.venues
from intermediate.int_prices_daily p
left join ops.export_cursors c
       on c.tenant_id = %(public_tenant)s and c.exporter = %(exporter)s and c.target_key = %(key)s
      and c.stream = %(stream)s || p.asset
where c.position is null or p.price_date >= c.position::date
order by p.asset, p.price_date
"""

def read_pending(conn: Any, key: str) -> tuple[list[PriceTick], list[RiskMetric], str | None]:
    """What the target has not had yet: price ticks, risk metrics and the risk run they come from."""
    prices = [PriceTick(asset, "median_1d", midnight(day), close, venues) for asset, day, close, venues in
              conn.execute(PRICES_SQL, {"exporter": EXPORTER, "key": key, "stream": PRICE_STREAM,
                                               "public_tenant": PUBLIC_TENANT}).fetchall()]
    row = conn.execute("select max(run_id) from derived.risk_portfolios").fetchone()
    risk_run = row[0] if row else None
    sent = conn.execute("select position from ops.export_cursors where tenant_id = %s and exporter = %s "
                        "and target_key = %s and stream = %s", (PUBLIC_TENANT, EXPORTER, key, RISK_STREAM)).fetchone()
    if risk_run is None or (sent is not None and sent[0] == risk_run):
        return prices, [], None
    metrics = risk_metrics(
        conn.execute("select tenant_id, portfolio_id, as_of, method, confidence, horizon_days, var_usd, cvar_usd, "
                     "var_overlapping_usd, cvar_overlapping_usd from derived.risk_var order by 1, 2, 4, 5, 6"
                     ).fetchall(),
        conn.execute("select tenant_id, portfolio_id, as_of, value_usd, hhi, correlation_shift, "
                     "correlation_shift_max, breaker_open from derived.risk_portfolios order by 1, 2").fetchall(),
        conn.execute("select tenant_id, portfolio_id, as_of, exceptions, p_value "
                     "from derived.risk_backtest order by 1, 2").fetchall())
    return prices, metrics, risk_run


def save_cursors(wh: Warehouse, key: str, prices: list[PriceTick], metrics: list[RiskMetric],
                 risk_run: str | None) -> None:
    last: dict[str, tuple[date, int]] = {}
    for tick in prices:
        day, count = last.get(tick.asset, (tick.at.date(), 0))
        last[tick.asset] = (max(day, tick.at.date()), count + 1)
    positions = [(PRICE_STREAM + asset, day.isoformat(), count) for asset, (day, count) in last.items()]
    if risk_run is not None:
        positions.append((RISK_STREAM, risk_run, len(metrics)))
    save_export_cursors(wh, PUBLIC_TENANT, EXPORTER, key, positions)


def export_to_influx(wh: Warehouse, target: InfluxTarget, *, batch_size: int, max_retries: int) -> dict[str, Any]:
    """Send what the target has not had yet, then move the cursors (ExportError: nothing is marked as sent, the
    next run sends the same points again). Returns a summary."""
    key = target_key(target)
    with wh.connect() as conn:
        prices, metrics, risk_run = read_pending(conn, key)
    written = export(target, prices, metrics, batch_size=batch_size, max_retries=max_retries)
    save_cursors(wh, key, prices, metrics, risk_run)
    return {"price_points": len(prices), "risk_metrics": len(metrics), "points": written,
            "risk_run": risk_run or "unchanged", "assets": len({t.asset for t in prices})}
