"""The InfluxDB export against a local HTTP endpoint that records what it receives (no InfluxDB 2 server can be
installed here): the line protocol of each point, and batching — a batch per `batch_size` points, the rest on
close."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pipelines.services.influx import InfluxTarget, PriceTick, RiskMetric, export
from tests.recording_server import Recorded, RecordingServer


@pytest.fixture()
def influx() -> Iterator[tuple[str, list[Recorded]]]:
    with RecordingServer() as server:
        yield server.url, server.received


def test_points_go_out_as_line_protocol_in_batches(influx: tuple[str, list[Recorded]]) -> None:
    url, received = influx
    start = datetime(2026, 11, 24, tzinfo=UTC)
    ticks = [PriceTick("BTC", "binance", start + timedelta(seconds=i), Decimal("57234.80") + i) for i in range(12_000)]
    metrics = [RiskMetric("acme", "main", "var_99_1d_historical", start, Decimal("123456.78"))]
    target = InfluxTarget(url, "secret-token", "coinbook", "markets")
    assert export(target, ticks, metrics, batch_size=5_000, flush_interval_ms=60_000) == 12_001

    lines = [line for *_, body in received for line in body.splitlines()]
    assert [len(body.splitlines()) for *_, body in received] == [5_000, 5_000, 2_001]
    assert all(path == "/api/v2/write" for path, *_ in received)
    assert all(query["org"] == "coinbook" and query["bucket"] == "markets" and query["precision"] == "s"
               for _, query, *_ in received)
    assert all(auth == "Token secret-token" for _, _, auth, _ in received)
    assert lines[0] == f"price,asset=BTC,source=binance usd=57234.8 {int(start.timestamp())}"
    assert lines[-1] == (f"portfolio_risk,metric=var_99_1d_historical,portfolio=main,tenant=acme "
                         f"value=123456.78 {int(start.timestamp())}")
    assert len(set(lines)) == 12_001  # nothing lost, nothing twice
