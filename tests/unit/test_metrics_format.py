"""The Prometheus text exposition (pipelines/domain/metrics.py), checked against the format's rules as the
Prometheus documentation states them (exposition_formats.md, version 0.0.4), on hand-made families."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from pipelines.domain.metrics import METRICS, Family, RunInfo, parse_exposition, render, run_families

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def test_every_metric_name_and_type_is_valid() -> None:
    for name, (kind, help_text) in METRICS.items():
        assert NAME.match(name) and name.startswith("coinbook_"), name
        assert kind in ("counter", "gauge", "summary"), name
        assert (kind == "counter") == name.endswith("_total"), name  # the naming convention for counters
        assert help_text and "\n" not in help_text


def test_render_writes_help_type_and_escaped_labels() -> None:
    family = Family("coinbook_api_calls_total")
    family.add(12, venue='bin"ance\\x\ny')
    family.add(None, venue="skipped")  # None leaves the series out
    text = render([family, Family("coinbook_up")])
    assert text.splitlines() == [
        "# HELP coinbook_api_calls_total " + METRICS["coinbook_api_calls_total"][1],
        "# TYPE coinbook_api_calls_total counter",
        'coinbook_api_calls_total{venue="bin\\"ance\\\\x\\ny"} 12',
        "# HELP coinbook_up " + METRICS["coinbook_up"][1],
        "# TYPE coinbook_up gauge",
    ]
    assert parse_exposition(text) == {("coinbook_api_calls_total", frozenset({("venue", 'bin"ance\\x\ny')})): 12.0}


def test_values_labels_and_summary_parts_round_trip() -> None:
    lag, duration = Family("coinbook_sync_lag_seconds"), Family("coinbook_sync_duration_seconds")
    lag.add(Decimal("12.500000"), source="kraken", endpoint="trades")
    lag.add(float("nan"), source="htx", endpoint="trades")
    duration.add(Decimal("3.25"), "_sum", source="kraken")
    duration.add(4, "_count", source="kraken")
    samples = parse_exposition(render([lag, duration]))
    assert samples[("coinbook_sync_lag_seconds", frozenset({("source", "kraken"), ("endpoint", "trades")}))] == 12.5
    assert samples[("coinbook_sync_duration_seconds_sum", frozenset({("source", "kraken")}))] == 3.25
    assert samples[("coinbook_sync_duration_seconds_count", frozenset({("source", "kraken")}))] == 4
    nan = samples[("coinbook_sync_lag_seconds", frozenset({("source", "htx"), ("endpoint", "trades")}))]
    assert nan != nan
    assert 'endpoint="trades",source="kraken"' in render([lag])  # labels in a stable (sorted) order


def test_a_family_the_endpoint_does_not_declare_is_refused() -> None:
    with pytest.raises(KeyError):
        render([Family("coinbook_not_declared")])


def test_run_families_count_per_status_and_time_the_newest_and_longest_run() -> None:
    runs = [RunInfo("binance_account_sync", "SUCCESS", 100.0, 130.0),
            RunInfo("binance_account_sync", "SUCCESS", 200.0, 210.0),   # the newest: 10 s
            RunInfo("binance_account_sync", "FAILURE", 150.0, 155.0),
            RunInfo("binance_account_sync", "STARTED", 300.0, None),    # running: counted, not timed
            RunInfo("nightly_reconciliation", "SUCCESS", 0.0, 95.5)]
    samples = parse_exposition(render(run_families(runs)))

    def get(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert get("coinbook_dagster_recent_runs", job="binance_account_sync", status="SUCCESS") == 2
    assert get("coinbook_dagster_recent_runs", job="binance_account_sync", status="FAILURE") == 1
    assert get("coinbook_dagster_recent_runs", job="binance_account_sync", status="STARTED") == 1
    assert get("coinbook_dagster_last_run_duration_seconds", job="binance_account_sync") == 10.0
    assert get("coinbook_dagster_recent_run_duration_seconds_max", job="binance_account_sync") == 30.0
    assert get("coinbook_dagster_last_run_duration_seconds", job="nightly_reconciliation") == 95.5
    assert len(samples) == 4 + 2 + 2
