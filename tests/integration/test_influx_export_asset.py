"""The influx_export asset, materialized in process by Dagster against the real PostgreSQL and a local HTTP
endpoint that records the InfluxDB write requests (no InfluxDB 2 server can be installed here).

The test owns a database: the migrations give it derived.risk_* (the risk asset's tables); it stands in for the
dbt table intermediate.int_prices_daily with the columns the export reads, so it can add a day and watch only
that day (and the day before it, resent) go out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.defs.exports.assets import influx_export
from pipelines.defs.resources import build_resources
from pipelines.settings import CoinbookSettings
from tests.recording_server import Recorded, RecordingServer

pytestmark = pytest.mark.integration

FIRST = date(2026, 9, 1)
ASSETS = ("BNB", "BTC", "ETH")


@pytest.fixture()
def database(cluster: Any) -> Iterator[str]:
    name = f"coinbook_influx_{uuid.uuid4().hex[:10]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists intermediate")
        conn.execute("create table intermediate.int_prices_daily (asset text, price_date date, "
                     "close_usd numeric(38, 18), venues text, primary key (asset, price_date))")
        for i in range(30):  # 30 days × 3 assets
            for n, asset in enumerate(ASSETS):
                conn.execute("insert into intermediate.int_prices_daily values (%s, %s, %s, %s)",
                             (asset, FIRST + timedelta(days=i), 100 * (n + 1) + i, "binance,kraken"))
        write_risk(conn, "run-1", date(2026, 9, 30))
    yield url
    cluster.drop_database(name)


def write_risk(conn: psycopg.Connection[Any], run_id: str, as_of: date) -> None:
    """What the portfolio_risk asset leaves for one portfolio: 12 VaR rows, the portfolio row, the backtest."""
    for table in ("risk_var", "risk_portfolios", "risk_backtest"):
        conn.execute(f"delete from derived.{table}")
    for method in ("historical", "parametric", "ewma"):
        for confidence in ("0.95", "0.99"):
            for horizon in (1, 10):
                conn.execute("insert into derived.risk_var values ('acme', 'main', %s, %s, %s, %s, 12345.67, "
                             "15000.01, 250000.00, 365, %s)", (as_of, method, confidence, horizon, run_id))
    # the historical 10-day figures from overlapping windows (V022): two more metrics for each of the two
    conn.execute("update derived.risk_var set var_overlapping_usd = 14000.5, cvar_overlapping_usd = 17000.25 "
                 "where method = 'historical' and horizon_days = 10")
    conn.execute("insert into derived.risk_portfolios values ('acme', 'main', %s, 250000.00, 0.42, 'BTC 60%%', "
                 "'{}', 0.12, 0.31, false, null, null, %s)", (as_of, run_id))
    conn.execute("insert into derived.risk_backtest values ('acme', 'main', %s, 250, 3, 2.5, 0.1, 0.75, false, %s)",
                 (as_of, run_id))


@pytest.fixture()
def influx() -> Iterator[tuple[str, list[Recorded], dict[str, int]]]:
    """Records (path, query, Authorization, body); answers with `state['status']` (204 = accepted)."""
    state = {"status": 204}
    with RecordingServer(status=lambda path: state["status"]) as server:
        yield server.url, server.received, state


def run(database: str) -> dg.ExecuteInProcessResult:
    """The asset with the resources the code location would build from this environment's COINBOOK_INFLUX_*."""
    built = build_resources(CoinbookSettings(_env_file=None, database_url=database))
    return dg.materialize([influx_export], resources={k: built[k] for k in ("warehouse", "influx")},
                          raise_on_error=False)


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = result.asset_materializations_for_node("influx_export")
    return {k: v.value for k, v in event.metadata.items()}


def lines(received: list[Recorded]) -> list[str]:
    return [line for *_, body in received for line in body.splitlines()]


def test_skipped_at_once_without_a_url(database: str, influx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, received, _ = influx
    monkeypatch.delenv("COINBOOK_INFLUX_URL", raising=False)
    result = run(database)
    assert result.success
    assert metadata(result) == {"skipped": True, "reason": "COINBOOK_INFLUX_URL is not set"}
    assert received == []


def test_exports_prices_and_risk_in_batches_then_only_what_is_new(database: str, influx: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, received, state = influx
    for name, value in {"URL": url, "TOKEN": "t0ken", "ORG": "desk", "BUCKET": "markets", "BATCH_SIZE": "40",
                        "MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(f"COINBOOK_INFLUX_{name}", value)

    result = run(database)
    assert result.success
    meta = metadata(result)
    assert (meta["price_points"], meta["risk_metrics"], meta["risk_run"]) == (90, 35, "run-1")  # 24 + 4 overlap + 5 + 2
    assert [len(body.splitlines()) for *_, body in received] == [40, 40, 40, 5]  # batches of 40, the rest on close
    assert all(path == "/api/v2/write" and query == {"org": "desk", "bucket": "markets", "precision": "s"}
               and auth == "Token t0ken" for path, query, auth, _ in received)
    first = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())
    as_of = int(datetime(2026, 9, 30, tzinfo=UTC).timestamp())
    sent = lines(received)
    assert sent[0] == f'price,asset=BNB,source=median_1d usd=100,venues="binance,kraken" {first}'
    assert (f"portfolio_risk,metric=var_99_1d_historical,portfolio=main,tenant=acme value=12345.67 {as_of}"
            in sent)
    assert f"portfolio_risk,metric=breaker_open,portfolio=main,tenant=acme value=0 {as_of}" in sent
    assert (f"portfolio_risk,metric=var_99_10d_historical_overlapping,portfolio=main,tenant=acme value=14000.5 "
            f"{as_of}" in sent)
    assert not any("1d_historical_overlapping" in line or "parametric_overlapping" in line for line in sent)
    assert len(set(sent)) == 125

    # Nothing new: only each asset's last day goes again (it may still have moved), no risk metrics.
    received.clear()
    assert metadata(run(database))["points"] == 3
    assert sorted(line.split(",")[1] for line in lines(received)) == ["asset=BNB", "asset=BTC", "asset=ETH"]

    # A new day and a new risk run: the new day plus the resent last one, and the new run's figures.
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("insert into intermediate.int_prices_daily select asset, price_date + 1, close_usd + 1, venues "
                     "from intermediate.int_prices_daily where price_date = '2026-09-30'")
        write_risk(conn, "run-2", date(2026, 10, 1))
    received.clear()
    meta = metadata(run(database))
    assert (meta["price_points"], meta["risk_metrics"], meta["risk_run"]) == (6, 35, "run-2")

    # InfluxDB refuses: the asset fails and nothing is marked as sent; once it accepts again, the same goes out.
    with psycopg.connect(database, autocommit=True) as conn:
        write_risk(conn, "run-3", date(2026, 10, 1))
        before = conn.execute("select stream, position, exported from ops.export_cursors order by 1").fetchall()
    state["status"] = 500
    failed = run(database)
    assert not failed.success
    with psycopg.connect(database) as conn:
        assert conn.execute("select stream, position, exported from ops.export_cursors order by 1"
                            ).fetchall() == before
    state["status"] = 204
    received.clear()
    meta = metadata(run(database))
    assert (meta["price_points"], meta["risk_metrics"], meta["risk_run"]) == (3, 35, "run-3")
    with psycopg.connect(database) as conn:
        assert conn.execute("select position, exported from ops.export_cursors where stream = 'prices_daily:BTC'"
                            ).fetchone() == ("2026-10-01", 30 + 1 + 2 + 1)
