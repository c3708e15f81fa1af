"""Optional export to InfluxDB 2 (pipelines/exports/influx.py) of the reference daily prices and the portfolio risk
metrics, for teams that chart them in Grafana. Off unless COINBOOK_INFLUX_URL is set (with COINBOOK_INFLUX_TOKEN,
_ORG, _BUCKET; _BATCH_SIZE and _MAX_RETRIES tune the writer): then the asset returns at once, saying so.

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

import dagster as dg
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.exports.influx import ExportError, InfluxTarget, PriceTick, RiskMetric, export
from pipelines.resources.warehouse import WarehouseResource

EXPORTER = "influx"
RISK_STREAM = "portfolio_risk"
PRICE_STREAM = "prices_daily:"  # + asset


class InfluxSettings(BaseSettings):
    """Read at run time, not into Dagster's config (the UI shows config; the token is a secret)."""

    model_config = SettingsConfigDict(env_prefix="COINBOOK_INFLUX_", env_file=".env", extra="ignore")

    url: str | None = None
    token: str = ""
    org: str = "coinbook"
    bucket: str = "coinbook"
    batch_size: int = 5_000
    max_retries: int = 3

    def target(self) -> InfluxTarget | None:
        return InfluxTarget(self.url, self.token, self.org, self.bucket) if self.url else None


def target_key(target: InfluxTarget) -> str:
    """The cursors belong to one destination: pointing the export elsewhere starts from the beginning there."""
    return hashlib.sha256(f"{target.url}\n{target.org}\n{target.bucket}".encode()).hexdigest()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def risk_metrics(var_rows: list[tuple[Any, ...]], portfolio_rows: list[tuple[Any, ...]],
                 backtest_rows: list[tuple[Any, ...]]) -> list[RiskMetric]:
    """derived.risk_* rows → one metric per figure, stamped at the day the figures describe (as_of)."""
    metrics = []
    for tenant, portfolio, as_of, method, confidence, horizon, var, cvar in var_rows:
        name = f"{round(confidence * 100)}_{horizon}d_{method}"
        metrics += [RiskMetric(tenant, portfolio, f"var_{name}", midnight(as_of), var),
                    RiskMetric(tenant, portfolio, f"cvar_{name}", midnight(as_of), cvar)]
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
       on c.tenant_id = 'public' and c.exporter = %(exporter)s and c.target_key = %(key)s
      and c.stream = %(stream)s || p.asset
where c.position is null or p.price_date >= c.position::date
order by p.asset, p.price_date
"""

SAVE_CURSOR_SQL = """
insert into ops.export_cursors (tenant_id, exporter, target_key, stream, position, exported, updated_at)
values ('public', %s, %s, %s, %s, %s, now())
on conflict (tenant_id, exporter, target_key, stream)
do update set position = excluded.position, exported = ops.export_cursors.exported + excluded.exported,
              updated_at = excluded.updated_at
"""


def read_pending(conn: Any, key: str) -> tuple[list[PriceTick], list[RiskMetric], str | None]:
    """What the target has not had yet: price ticks, risk metrics and the risk run they come from."""
    prices = [PriceTick(asset, "median_1d", midnight(day), close, venues) for asset, day, close, venues in
              conn.execute(PRICES_SQL, {"exporter": EXPORTER, "key": key, "stream": PRICE_STREAM}).fetchall()]
    row = conn.execute("select max(run_id) from derived.risk_portfolios").fetchone()
    risk_run = row[0] if row else None
    sent = conn.execute("select position from ops.export_cursors where tenant_id = 'public' and exporter = %s "
                        "and target_key = %s and stream = %s", (EXPORTER, key, RISK_STREAM)).fetchone()
    if risk_run is None or (sent is not None and sent[0] == risk_run):
        return prices, [], None
    metrics = risk_metrics(
        conn.execute("select tenant_id, portfolio_id, as_of, method, confidence, horizon_days, var_usd, cvar_usd "
                     "from derived.risk_var order by 1, 2, 4, 5, 6").fetchall(),
        conn.execute("select tenant_id, portfolio_id, as_of, value_usd, hhi, correlation_shift, "
                     "correlation_shift_max, breaker_open from derived.risk_portfolios order by 1, 2").fetchall(),
        conn.execute("select tenant_id, portfolio_id, as_of, exceptions, p_value "
                     "from derived.risk_backtest order by 1, 2").fetchall())
    return prices, metrics, risk_run


def save_cursors(conn: Any, key: str, prices: list[PriceTick], metrics: list[RiskMetric],
                 risk_run: str | None) -> None:
    last: dict[str, tuple[date, int]] = {}
    for tick in prices:
        day, count = last.get(tick.asset, (tick.at.date(), 0))
        last[tick.asset] = (max(day, tick.at.date()), count + 1)
    for asset, (day, count) in last.items():
        conn.execute(SAVE_CURSOR_SQL, (EXPORTER, key, PRICE_STREAM + asset, day.isoformat(), count))
    if risk_run is not None:
        conn.execute(SAVE_CURSOR_SQL, (EXPORTER, key, RISK_STREAM, risk_run, len(metrics)))


@dg.asset(
    name="influx_export",
    group_name="exports",
    kinds={"python", "influxdb"},
    deps=[dg.AssetKey("int_prices_daily"), dg.AssetKey("risk_var"), dg.AssetKey("risk_portfolios"),
          dg.AssetKey("risk_backtest")],
    description="Reference daily prices and portfolio risk metrics to InfluxDB 2, incrementally, when "
                "COINBOOK_INFLUX_URL is set; otherwise skipped at once.",
)
def influx_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = InfluxSettings()
    target = settings.target()
    if target is None:
        return dg.MaterializeResult(metadata={"skipped": True, "reason": "COINBOOK_INFLUX_URL is not set"})
    key = target_key(target)
    wh = warehouse.get()
    with wh.connect() as conn:
        prices, metrics, risk_run = read_pending(conn, key)
    try:
        written = export(target, prices, metrics, batch_size=settings.batch_size, max_retries=settings.max_retries)
    except ExportError as exc:
        # The cursors stay: the next run sends the same points again.
        raise dg.Failure(description=f"InfluxDB export failed; nothing marked as sent: {exc}") from exc
    with wh.connect() as conn, conn.transaction():
        save_cursors(conn, key, prices, metrics, risk_run)
    context.log.info(f"influx: {len(prices)} price points, {len(metrics)} risk metrics to {target.bucket}")
    return dg.MaterializeResult(metadata={
        "skipped": False, "target": dg.MetadataValue.url(target.url), "bucket": target.bucket,
        "price_points": len(prices), "risk_metrics": len(metrics), "points": written,
        "risk_run": risk_run or "unchanged", "assets": len({t.asset for t in prices})})

