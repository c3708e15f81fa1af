"""Optional export of prices and portfolio risk metrics to InfluxDB 2 (influxdb-client), for teams that chart
them in Grafana/Chronograf. Enabled when COINBOOK_INFLUX_URL is set; PostgreSQL stays the system of record.

Points are written in batches (the client's batching write API: `batch_size` lines per HTTP request, flushed on
close). Field values are floats: InfluxDB charts floats, and the exact numeric lives in the warehouse — the
conversion happens here, at the edge, and nowhere else.

The batching writer sends from a background thread and only logs a batch it could not deliver (after its
retries); `export` collects those through the client's error callback and raises ExportError after the close,
so a caller keeping a cursor (pipelines/services/exports.py) never advances it past points that were lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import WriteOptions


@dataclass(frozen=True)
class InfluxTarget:
    url: str
    token: str
    org: str
    bucket: str


class ExportError(RuntimeError):
    pass


@dataclass(frozen=True)
class PriceTick:
    asset: str
    source: str  # the venue the price came from (provenance), or how it was made (e.g. 'median_1d')
    at: datetime
    price_usd: Decimal
    venues: str | None = None  # the venues that voted for a consensus price (a field: tags would split series)


@dataclass(frozen=True)
class RiskMetric:
    tenant_id: str
    portfolio_id: str
    metric: str  # e.g. var_99_1d_historical, volatility_30d, hhi
    at: datetime
    value: Decimal | float


def price_point(tick: PriceTick) -> Point:
    point = Point("price").tag("asset", tick.asset).tag("source", tick.source).field("usd", float(tick.price_usd))
    if tick.venues:
        point = point.field("venues", tick.venues)
    return point.time(tick.at, WritePrecision.S)


def risk_point(metric: RiskMetric) -> Point:
    return (Point("portfolio_risk").tag("tenant", metric.tenant_id).tag("portfolio", metric.portfolio_id)
            .tag("metric", metric.metric).field("value", float(metric.value)).time(metric.at, WritePrecision.S))


def export(target: InfluxTarget, prices: Iterable[PriceTick] = (), metrics: Iterable[RiskMetric] = (),
           batch_size: int = 5_000, flush_interval_ms: int = 1_000, max_retries: int = 3) -> int:
    """Write every point; returns how many. Closing the client flushes the last partial batch and waits.
    Raises ExportError when a batch could not be delivered (after the client's retries)."""
    count = 0
    failures: list[str] = []

    def failed(_conf: object, _data: object, exc: Exception) -> None:
        failures.append(f"{type(exc).__name__}: {exc}"[:300])

    with InfluxDBClient(url=target.url, token=target.token, org=target.org) as client, client.write_api(
            write_options=WriteOptions(batch_size=batch_size, flush_interval=flush_interval_ms,
                                       max_retries=max_retries, retry_interval=500),
            error_callback=failed) as writer:
        for tick in prices:
            writer.write(bucket=target.bucket, record=price_point(tick), write_precision=WritePrecision.S)
            count += 1
        for metric in metrics:
            writer.write(bucket=target.bucket, record=risk_point(metric), write_precision=WritePrecision.S)
            count += 1
    if failures:
        raise ExportError(f"{len(failures)} batch(es) of {count} points not written to {target.url}: {failures[0]}")
    return count
