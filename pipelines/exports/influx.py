"""Optional export of prices and portfolio risk metrics to InfluxDB 2 (influxdb-client), for teams that chart
them in Grafana/Chronograf. Enabled when COINBOOK_INFLUX_URL is set; PostgreSQL stays the system of record.

Points are written in batches (the client's batching write API: `batch_size` lines per HTTP request, flushed on
close). Field values are floats: InfluxDB charts floats, and the exact numeric lives in the warehouse — the
conversion happens here, at the edge, and nowhere else.
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


@dataclass(frozen=True)
class PriceTick:
    asset: str
    source: str  # the venue the price came from (provenance)
    at: datetime
    price_usd: Decimal


@dataclass(frozen=True)
class RiskMetric:
    tenant_id: str
    portfolio_id: str
    metric: str  # e.g. var_99_1d_historical, volatility_30d, hhi
    at: datetime
    value: Decimal | float


def price_point(tick: PriceTick) -> Point:
    return (Point("price").tag("asset", tick.asset).tag("source", tick.source)
            .field("usd", float(tick.price_usd)).time(tick.at, WritePrecision.S))


def risk_point(metric: RiskMetric) -> Point:
    return (Point("portfolio_risk").tag("tenant", metric.tenant_id).tag("portfolio", metric.portfolio_id)
            .tag("metric", metric.metric).field("value", float(metric.value)).time(metric.at, WritePrecision.S))


def export(target: InfluxTarget, prices: Iterable[PriceTick] = (), metrics: Iterable[RiskMetric] = (),
           batch_size: int = 5_000, flush_interval_ms: int = 1_000) -> int:
    """Write every point; returns how many. Closing the client flushes the last partial batch and waits."""
    count = 0
    with InfluxDBClient(url=target.url, token=target.token, org=target.org) as client, client.write_api(
            write_options=WriteOptions(batch_size=batch_size, flush_interval=flush_interval_ms,
                                       max_retries=3, retry_interval=500)) as writer:
        for tick in prices:
            writer.write(bucket=target.bucket, record=price_point(tick), write_precision=WritePrecision.S)
            count += 1
        for metric in metrics:
            writer.write(bucket=target.bucket, record=risk_point(metric), write_precision=WritePrecision.S)
            count += 1
    return count
