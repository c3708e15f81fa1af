"""The InfluxDB export against a local HTTP endpoint that records what it receives (no InfluxDB 2 server can be
installed here): the line protocol of each point, and batching — a batch per `batch_size` points, the rest on
close."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from pipelines.exports.influx import InfluxTarget, PriceTick, RiskMetric, export

Request = tuple[str, dict[str, list[str]], str, str]  # path, query, authorization, body


@pytest.fixture()
def influx() -> Iterator[tuple[str, list[Request]]]:
    received: list[Request] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((url.path, parse_qs(url.query), self.headers.get("Authorization", ""), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def test_points_go_out_as_line_protocol_in_batches(influx: tuple[str, list[Request]]) -> None:
    url, received = influx
    start = datetime(2026, 11, 24, tzinfo=UTC)
    ticks = [PriceTick("BTC", "binance", start + timedelta(seconds=i), Decimal("57234.80") + i) for i in range(12_000)]
    metrics = [RiskMetric("acme", "main", "var_99_1d_historical", start, Decimal("123456.78"))]
    target = InfluxTarget(url, "secret-token", "coinbook", "markets")
    assert export(target, ticks, metrics, batch_size=5_000, flush_interval_ms=60_000) == 12_001

    lines = [line for *_, body in received for line in body.splitlines()]
    assert [len(body.splitlines()) for *_, body in received] == [5_000, 5_000, 2_001]
    assert all(path == "/api/v2/write" for path, *_ in received)
    assert all(query["org"] == ["coinbook"] and query["bucket"] == ["markets"] and query["precision"] == ["s"]
               for _, query, *_ in received)
    assert all(auth == "Token secret-token" for _, _, auth, _ in received)
    assert lines[0] == f"price,asset=BTC,source=binance usd=57234.8 {int(start.timestamp())}"
    assert lines[-1] == (f"portfolio_risk,metric=var_99_1d_historical,portfolio=main,tenant=acme "
                         f"value=123456.78 {int(start.timestamp())}")
    assert len(set(lines)) == 12_001  # nothing lost, nothing twice
