"""Full sync of the demo world across every venue the sandbox serves: wall time and API calls, with and
without batching and caching (issue 3's API-cost benchmark).

    .venv/bin/python -m bench.bench_sync

Each mode gets a fresh database and a fresh sandbox. "naive" is what a straightforward ccxt client does:
every client loads the venue's markets itself (per account and per asset) and asks for tickers one symbol at
a time. "batched + cached" is Coinbook's default: one markets load per venue shared by every account (and kept
on disk for an hour), and one tickers call per venue for all symbols. Calls are counted by the sandbox itself.
A cold sync starts from an empty warehouse; a warm sync follows it (incremental: nothing new to fetch); the
fast tier is what runs every few minutes: every account's balances and every venue's tickers.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.app.runner import run_pipeline
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.services.clients import clear_markets_cache
from pipelines.services.venues import SEED_VENUES as VENUES
from pipelines.settings import get_settings
from sandbox.server import SandboxServer, served_venues
from tests.support import definitions_for
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse


def _stats(sandbox: SandboxServer, reset: bool = False) -> dict[str, Any]:
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{sandbox.url}/__sandbox/stats/reset", method="POST"),
                               timeout=10).read()
        return {}
    with urllib.request.urlopen(f"{sandbox.url}/__sandbox/stats", timeout=10) as response:
        return json.load(response)


def _split(stats: dict[str, Any]) -> tuple[int, int]:
    """(account calls, public calls): the sandbox counts the requests that carried an API key, as a venue does."""
    return stats["signed_total"], stats["total"] - stats["signed_total"]


def run_mode(cluster: LocalCluster, label: str, batching: bool, caching: bool) -> list[dict[str, float]]:
    name = f"bench_sync_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    rows = []
    try:
        cluster.migrate(name)
        with SandboxServer(port=0) as sandbox, tempfile.TemporaryDirectory() as tmp:
            clear_markets_cache(Path(tmp))  # a cold start for each mode: nothing cached in memory or on disk
            wh = Warehouse(url)
            register_accounts(wh, specs_from_sandbox(sandbox.url))
            resource = ExchangeResource(sandbox_url=sandbox.url, database_url=url, home=tmp, batching=batching,
                                        caching=caching)
            defs = definitions_for(url, sandbox.url, resources={"exchanges": resource})
            instance = dg.DagsterInstance.ephemeral(tempdir=tmp)
            for run, tier in (("cold", "nightly"), ("warm", "nightly"), ("fast", "fast")):
                _stats(sandbox, reset=True)
                started = time.perf_counter()
                outcome = run_pipeline(defs, instance, wh, VENUES, tier=tier, transform=False)  # no models
                wall = time.perf_counter() - started
                account_calls, public_calls = _split(_stats(sandbox))
                rows.append({"mode": label, "run": run, "wall": wall, "account": account_calls,
                             "public": public_calls, "rows": outcome.inserted, "ok": outcome.success,
                             "accounts": sum(1 for r in outcome.runs if r.partition)})
    finally:
        cluster.drop_database(name)
    return rows


def main() -> None:
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    results = run_mode(cluster, "naive", batching=False, caching=False)
    results += run_mode(cluster, "batched + cached", batching=True, caching=True)
    venues = ", ".join(served_venues())
    print(f"venues: {venues}; accounts: {results[0]['accounts']}")
    print(f"{'mode':<18} {'run':<5} {'wall s':>7} {'account calls':>14} {'public calls':>13} {'all calls':>10} "
          f"{'new rows':>9}")
    for r in results:
        flag = "" if r["ok"] else "  (FAILED)"
        print(f"{r['mode']:<18} {r['run']:<5} {r['wall']:>7.1f} {r['account']:>14,} {r['public']:>13,} "
              f"{r['account'] + r['public']:>10,} {r['rows']:>9,}{flag}")
    by = {(r["mode"], r["run"]): r for r in results}
    for run in ("cold", "warm", "fast"):
        naive, best = by[("naive", run)], by[("batched + cached", run)]
        public_cut = 1 - best["public"] / naive["public"] if naive["public"] else 0.0
        total_cut = 1 - (best["public"] + best["account"]) / (naive["public"] + naive["account"])
        print(f"{run}: public-data calls cut by {public_cut:.0%}, all calls by {total_cut:.0%}, "
              f"wall time {naive['wall']:.1f} s → {best['wall']:.1f} s")

    def per_day(mode: str) -> float:  # the schedules: fast tier every 5 minutes, one full sync a night
        fast, warm = by[(mode, "fast")], by[(mode, "warm")]
        return 288 * (fast["account"] + fast["public"]) + warm["account"] + warm["public"]

    naive_day, best_day = per_day("naive"), per_day("batched + cached")
    print(f"a day on the default schedules: {naive_day:,.0f} → {best_day:,.0f} calls "
          f"({1 - best_day / naive_day:.0%} fewer)")


if __name__ == "__main__":
    main()
