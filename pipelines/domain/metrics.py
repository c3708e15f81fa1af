"""Prometheus metrics as plain data, and their text exposition format (version 0.0.4: `# HELP`, `# TYPE`, then
one `name{label="value"} number` line per sample). Rendered by hand: the format is small and a client library
would only add a dependency and its own process-wide registry.

The metric names are the contract with `deploy/grafana/coinbook.json`: `METRICS` lists every family the
endpoint exports, and a unit test checks that the dashboard queries nothing else."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

# name -> (type, help). A counter's value only grows between scrapes (sums over append-only ops tables).
METRICS: dict[str, tuple[str, str]] = {
    "coinbook_up": ("gauge", "1 when the warehouse answered this scrape."),
    "coinbook_sync_last_success_timestamp_seconds": (
        "gauge", "Unix time of the newest successful sync of an account endpoint (ops.sync_log)."),
    "coinbook_sync_lag_seconds": (
        "gauge", "Seconds since the newest successful sync of an account endpoint, at scrape time."),
    "coinbook_sync_runs_total": ("counter", "Syncs of an account endpoint by status (ops.sync_log)."),
    "coinbook_sync_rows_fetched_total": ("counter", "Records a source delivered (ops.sync_log.fetched)."),
    "coinbook_sync_rows_ingested_total": ("counter", "Records new to the warehouse (ops.sync_log.inserted)."),
    "coinbook_sync_duration_seconds": (
        "summary", "Wall time of the finished syncs of an account endpoint (ops.sync_log)."),
    "coinbook_gate_rows_checked": ("gauge", "Rows the quality gate checked last, per raw table and source "
                                            "(ops.gate_partitions)."),
    "coinbook_gate_rows_quarantined": ("gauge", "Rows the quality gate quarantined, per raw table and source "
                                                "(ops.gate_partitions)."),
    "coinbook_gate_quarantine_ratio": ("gauge", "Quarantined / checked rows per raw table and source."),
    "coinbook_gate_partitions_held": ("gauge", "Account partitions held back by the gate (ops.gate_partitions)."),
    "coinbook_quarantine_rows_total": ("counter", "Rows in ops.quarantine, per raw table."),
    "coinbook_api_calls_total": ("counter", "HTTP calls made to a venue (ops.api_usage.calls)."),
    "coinbook_api_retries_total": ("counter", "Retried HTTP calls to a venue (ops.api_usage.retries)."),
    "coinbook_api_calls_peak_minute": ("gauge", "Most calls to a venue in one minute of the last hour."),
    "coinbook_api_budget_calls_per_minute": ("gauge", "A request budget in calls per minute: the venue-wide one, "
                                                      "or one API key's."),
    "coinbook_api_budget_use_ratio": ("gauge", "Peak minute of the last hour / its request budget (venue-wide "
                                               "or one key's)."),
    "coinbook_alerts_open": ("gauge", "Open alerts by kind and severity (ops.alerts)."),
    "coinbook_dagster_recent_runs": ("gauge", "Dagster runs by job and status among the newest runs of the "
                                              "instance's run storage (COINBOOK_METRICS_RUNS, default 1000)."),
    "coinbook_dagster_last_run_duration_seconds": ("gauge", "Wall time of the newest finished run of a job."),
    "coinbook_dagster_recent_run_duration_seconds_max": (
        "gauge", "Longest wall time of a job's finished runs among the newest runs."),
}


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float | int | Decimal
    suffix: str = ""  # '_sum' or '_count' for a summary's parts


@dataclass
class Family:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float | int | Decimal | None, suffix: str = "", **labels: str) -> None:
        if value is not None:
            self.samples.append(Sample(labels, value, suffix))


@dataclass(frozen=True)
class RunInfo:
    """A finished or running Dagster run, as the run storage records it (times in Unix seconds)."""

    job: str
    status: str
    start: float | None
    end: float | None


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float | int | Decimal) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)  # the exposition format carries floats; counts and ratios only, never money
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


def render(families: Iterable[Family]) -> str:
    """The text exposition of `families` (each must be named in METRICS), one HELP/TYPE block per family."""
    lines: list[str] = []
    for family in families:
        kind, help_text = METRICS[family.name]
        lines += [f"# HELP {family.name} {help_text}", f"# TYPE {family.name} {kind}"]
        for sample in family.samples:
            labels = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in sorted(sample.labels.items()))
            name = family.name + sample.suffix
            lines.append(f"{name}{{{labels}}} {format_value(sample.value)}" if labels
                         else f"{name} {format_value(sample.value)}")
    return "\n".join(lines) + "\n"


def run_families(runs: Iterable[RunInfo]) -> list[Family]:
    """Runs per job and status, and per job the newest finished run's wall time and the longest one. Gauges over
    the runs given (the newest N of the run storage), not counters: a window is not monotonic."""
    counts: dict[tuple[str, str], int] = {}
    newest: dict[str, tuple[float, float]] = {}  # job -> (end, duration)
    longest: dict[str, float] = {}
    for run in runs:
        counts[(run.job, run.status)] = counts.get((run.job, run.status), 0) + 1
        if run.start is None or run.end is None:
            continue
        duration = max(run.end - run.start, 0.0)
        longest[run.job] = max(longest.get(run.job, 0.0), duration)
        if run.job not in newest or run.end > newest[run.job][0]:
            newest[run.job] = (run.end, duration)
    recent, last, most = (Family("coinbook_dagster_recent_runs"), Family("coinbook_dagster_last_run_duration_seconds"),
                          Family("coinbook_dagster_recent_run_duration_seconds_max"))
    for (job, status), count in sorted(counts.items()):
        recent.add(count, job=job, status=status)
    for job in sorted(newest):
        last.add(round(newest[job][1], 6), job=job)
        most.add(round(longest[job], 6), job=job)
    return [recent, last, most]


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a text exposition as {(name, labels): value}: what a scraper reads (the tests use it)."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: list[tuple[str, str]] = []
        rest = rest.removesuffix("}")
        while rest:
            key, _, rest = rest.partition('="')
            raw, i = [], 0
            while rest[i] != '"':
                if rest[i] == "\\":
                    raw.append({"n": "\n", "\\": "\\", '"': '"'}[rest[i + 1]])
                    i += 2
                else:
                    raw.append(rest[i])
                    i += 1
            labels.append((key, "".join(raw)))
            rest = rest[i + 1:].removeprefix(",")
        samples[(name, frozenset(labels))] = float(value)
    return samples
