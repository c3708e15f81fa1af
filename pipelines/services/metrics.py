"""Operational metrics for Prometheus, read from the warehouse's ops tables: sync lag and rows per account
endpoint (ops.sync_log), the quality gate's quarantine (ops.gate_partitions, ops.quarantine), API calls and the
request budgets (ops.api_usage, the venue profiles), open alerts (ops.alerts). `MetricsServer` serves the text
exposition over HTTP (`GET /metrics`); Dagster's run durations are added by the caller (pipelines/app/metrics.py),
since a service does not import Dagster."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipelines.domain.metrics import Family
from pipelines.sources.exchanges.venues import profile
from warehouse.connection import Warehouse

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SYNC_SQL = """
select tenant_id, account_id, source, endpoint,
       count(*) filter (where status = 'ok'), count(*) filter (where status = 'failed'),
       count(*) filter (where status = 'running'),
       coalesce(sum(fetched), 0), coalesce(sum(inserted), 0),
       extract(epoch from max(finished_at) filter (where status = 'ok')),
       extract(epoch from now() - max(finished_at) filter (where status = 'ok')),
       coalesce(sum(extract(epoch from finished_at - started_at)) filter (where finished_at is not null), 0),
       count(*) filter (where finished_at is not null)
from ops.sync_log group by 1, 2, 3, 4 order by 1, 2, 3, 4"""

GATE_SQL = """
select raw_table, source, sum(rows_checked), sum(quarantined), count(*) filter (where held)
from ops.gate_partitions group by 1, 2 order by 1, 2"""

QUARANTINE_SQL = "select raw_table, count(*) from ops.quarantine group by 1 order by 1"

API_SQL = """
select venue, budget, coalesce(sum(calls), 0), coalesce(sum(retries), 0),
       coalesce(max(calls) filter (where minute >= date_trunc('minute', now()) - interval '1 hour'), 0)
from ops.api_usage group by 1, 2 order by 1, 2"""

ALERTS_SQL = "select kind, severity, count(*) from ops.alerts where resolved_at is null group by 1, 2 order by 1, 2"


def _sync_families(rows: list[tuple[Any, ...]]) -> list[Family]:
    last, lag = Family("coinbook_sync_last_success_timestamp_seconds"), Family("coinbook_sync_lag_seconds")
    runs, fetched = Family("coinbook_sync_runs_total"), Family("coinbook_sync_rows_fetched_total")
    ingested, duration = Family("coinbook_sync_rows_ingested_total"), Family("coinbook_sync_duration_seconds")
    for tenant, account, source, endpoint, ok, failed, running, got, new, at, age, seconds, finished in rows:
        key = {"tenant": tenant, "account": account, "source": source, "endpoint": endpoint}
        for status, count in (("ok", ok), ("failed", failed), ("running", running)):
            runs.add(count, status=status, **key)
        fetched.add(int(got), **key)
        ingested.add(int(new), **key)
        last.add(at, **key)  # None (never succeeded) leaves the series out: absent() alerts on it
        lag.add(age, **key)
        duration.add(seconds, "_sum", **key)
        duration.add(finished, "_count", **key)
    return [last, lag, runs, fetched, ingested, duration]


def _gate_families(rows: list[tuple[Any, ...]], quarantine: list[tuple[Any, ...]]) -> list[Family]:
    checked, bad = Family("coinbook_gate_rows_checked"), Family("coinbook_gate_rows_quarantined")
    ratio, held = Family("coinbook_gate_quarantine_ratio"), Family("coinbook_gate_partitions_held")
    for raw_table, source, rows_checked, quarantined, held_count in rows:
        key = {"raw_table": raw_table, "source": source}
        checked.add(int(rows_checked), **key)
        bad.add(int(quarantined), **key)
        ratio.add(quarantined / rows_checked if rows_checked else 0.0, **key)
        held.add(held_count, **key)
    total = Family("coinbook_quarantine_rows_total")
    for raw_table, count in quarantine:
        total.add(count, raw_table=raw_table)
    return [checked, bad, ratio, held, total]


def _api_families(rows: list[tuple[Any, ...]], budget_of: Callable[[str, str], int]) -> list[Family]:
    """Calls and retries per venue; the busiest minute and its share of the allowance per request budget (the
    venue-wide one, and each API key's own where the venue counts per key: `budget="key:<account>"`)."""
    calls, retries = Family("coinbook_api_calls_total"), Family("coinbook_api_retries_total")
    peak, budget, use = (Family("coinbook_api_calls_peak_minute"), Family("coinbook_api_budget_calls_per_minute"),
                         Family("coinbook_api_budget_use_ratio"))
    per_venue: dict[str, list[int]] = {}
    for venue, charged_to, total, retried, peak_minute in rows:
        sums = per_venue.setdefault(venue, [0, 0])
        sums[0] += int(total)
        sums[1] += int(retried)
        limit = budget_of(venue, charged_to)
        peak.add(int(peak_minute), venue=venue, budget=charged_to)
        budget.add(limit, venue=venue, budget=charged_to)
        use.add(peak_minute / limit if limit else 0.0, venue=venue, budget=charged_to)
    for venue, (total, retried) in per_venue.items():
        calls.add(total, venue=venue)
        retries.add(retried, venue=venue)
    return [calls, retries, peak, budget, use]


def venue_budget(venue: str, overrides: Mapping[str, int] | None = None, charged_to: str = "venue") -> int:
    """The calls per minute a venue's clients allow themselves (the venue profile unless overridden): on the
    venue-wide budget, or on one key's (`charged_to` 'key:<account>') where the venue counts per key."""
    override = (overrides or {}).get(venue)
    if override:
        return override
    venue_profile = profile(venue)
    if charged_to.startswith("key:"):
        return venue_profile.key_request_budget
    return venue_profile.request_budget


def warehouse_metrics(wh: Warehouse, budgets: Mapping[str, int] | None = None) -> list[Family]:
    """Every warehouse metric family; `coinbook_up` is 0 (and nothing else is read) when the warehouse does not
    answer, so a scrape still succeeds and the outage is a value Prometheus can alert on."""
    up = Family("coinbook_up")
    try:
        with wh.connect() as conn:
            sync = conn.execute(SYNC_SQL).fetchall()
            gate, quarantine = conn.execute(GATE_SQL).fetchall(), conn.execute(QUARANTINE_SQL).fetchall()
            api, alerts = conn.execute(API_SQL).fetchall(), conn.execute(ALERTS_SQL).fetchall()
    except Exception:  # any failure to read is "down" for the scraper, never a 500
        up.add(0)
        return [up]
    up.add(1)
    open_alerts = Family("coinbook_alerts_open")
    for kind, severity, count in alerts:
        open_alerts.add(count, kind=kind, severity=severity)
    return [up, *_sync_families(sync), *_gate_families(gate, quarantine),
            *_api_families(api, lambda v, b: venue_budget(v, budgets, b)), open_alerts]


class MetricsServer:
    """`GET /metrics` answered with `render()` (computed per scrape) on a background thread; a context manager.
    Port 0 picks a free port (`.port`)."""

    def __init__(self, render: Callable[[], str], host: str = "127.0.0.1", port: int = 9464) -> None:
        self.render = render

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server dispatches to
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: not one line per scrape
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/metrics"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
