"""Reading at scale (issue 17 §3): every query the dashboards run and every SELECT example of the README, each run
`--runs` times (50) as a tenant's login — row-level security in the path — with p50 / p95 / max per query and
the plans (EXPLAIN ANALYZE) of the slowest. Target: p95 <= 100 ms each.

    .venv/bin/python -m bench.bench_reads                      # demo world, built cold in a scratch database
    .venv/bin/python -m bench.bench_reads 20x100000 --keep     # a bigger world; keep the database for re-runs
    .venv/bin/python -m bench.bench_reads --database bench_ab12cd34   # measure a kept (or any) database again

The queries come from their definitions, not from a list kept here: each chart of pipelines/domain/dashboards.py
rendered as Superset sends it (pipelines/domain/read_queries.py: a manager login of the tenant, as Superset's
tenant viewers connect, plus Superset's row-level filter) and the README's ```sql SELECTs (an auditor login of the
tenant: they read ops.* too), and each mart's example of docs/sql.md (pipelines/services/sql_docs), as the same
auditor. The tenant is the one with the most ledger entries (the slowest to read); examples naming acme name it.
The world is built the way `coinbook run` builds it (`run_pipeline`: sandbox over HTTP, the gate, dbt, lots).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from bench.scratch import Scratch, scratch_world
from pipelines.app.runner import run_pipeline
from pipelines.domain.read_queries import ReadQuery, dashboard_queries, readme_selects
from pipelines.services.sql_docs import read_marts, sql_statements
from pipelines.services.users import add_user, remove_user
from pipelines.services.venues import SEED_VENUES as VENUES
from pipelines.settings import get_settings
from sandbox.world import Scale
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse

TARGET_MS = 100.0
README = Path(__file__).resolve().parents[1] / "README.md"
# What sizes the reads: printed beside the figures (rows as the pipeline sees them, every tenant)
SIZED = ("marts.ledger", "marts.positions", "marts.position_history", "marts.portfolio_returns",
         "marts.missing_cost_basis", "marts.tax_year_disposals", "ops.quarantine", "ops.sync_log")


def build_world(scratch: Scratch) -> float:
    """The scratch world through the nightly path, cold; returns the seconds it took."""
    t0 = time.perf_counter()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # dbt's own log
        outcome = run_pipeline(scratch.defs, scratch.instance, scratch.wh, VENUES)
    for failure in (f for r in outcome.runs for f in r.failures + r.failed_checks):
        print(f"  build: {failure}")
    return time.perf_counter() - t0


def busiest_tenant(admin: Warehouse) -> str:
    with admin.connect() as conn:
        row = conn.execute("select tenant_id from marts.ledger group by 1 order by count(*) desc limit 1").fetchone()
    if row is None:
        raise SystemExit("marts.ledger is empty: build the world first")
    return str(row[0])


def sizes(admin: Warehouse) -> dict[str, int]:
    out: dict[str, int] = {}
    with admin.connect() as conn:
        for rel in SIZED:
            with contextlib.suppress(psycopg.Error):
                out[rel] = conn.execute(f"select count(*) from {rel}").fetchone()[0]  # type: ignore[index]
    return out


@contextlib.contextmanager
def tenant_logins(admin: Warehouse, url: str, tenant: str) -> Iterator[dict[str, str]]:
    """A manager and an auditor login of `tenant` (conninfo each), removed afterwards."""
    suffix = uuid.uuid4().hex[:6]
    made: dict[str, str] = {}
    try:
        for role in ("manager", "auditor"):
            name = f"bench_{suffix}_{role}"
            made[role] = make_conninfo(url, user=name, password=add_user(admin, name, role, [tenant]))
        yield made
    finally:
        for role in made:
            remove_user(admin, f"bench_{suffix}_{role}")


def time_query(conn: psycopg.Connection, sql: str, runs: int) -> tuple[list[float], int]:
    """Milliseconds per run (execute + fetch every row), after one untimed warm-up; and the row count."""
    rows = len(conn.execute(sql).fetchall())
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        conn.execute(sql).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    return times, rows


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]


def server_ms(conn: psycopg.Connection, sql: str) -> float:
    """The server's own execution time (EXPLAIN ANALYZE): what the round trip adds is transfer and decoding."""
    plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0]  # type: ignore[index]
    return float(plan[0]["Execution Time"])


Result = tuple[ReadQuery, int, float, float, float, float, str]  # query, rows, p50, p95, max, server ms, role


def measure(logins: dict[str, str], queries: list[tuple[str, ReadQuery]], runs: int) -> list[Result]:
    """A Result per query; a query the login may not run is reported and skipped."""
    results: list[Result] = []
    conns = {role: psycopg.connect(info, autocommit=True) for role, info in logins.items()}
    try:
        for role, query in queries:
            try:
                times, rows = time_query(conns[role], query.sql, runs)
                server = server_ms(conns[role], query.sql)
            except psycopg.Error as exc:
                print(f"  {query.name}: {str(exc).splitlines()[0]}")
                continue
            results.append((query, rows, statistics.median(times), p95(times), max(times), server, role))
    finally:
        for conn in conns.values():
            conn.close()
    return results


def explain(conninfo: str, sql: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall())


def report(results: list[Result], logins: dict[str, str], plans: int) -> None:
    """The table (slowest p95 first; `server ms`: one EXPLAIN ANALYZE), then the slowest queries' plans."""
    print("\n| query | rows | p50 ms | p95 ms | max ms | server ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for query, rows, p50, p95_, worst, server, _ in sorted(results, key=lambda r: -r[3]):
        flag = "" if p95_ <= TARGET_MS else " **MISSED**"
        print(f"| `{query.name}` | {rows:,} | {p50:.1f} | {p95_:.1f}{flag} | {worst:.1f} | {server:.1f} |")
    missed = [r for r in results if r[3] > TARGET_MS]
    print(f"\n{len(results)} queries, p95 <= {TARGET_MS:.0f} ms: "
          + ("met by every one" if not missed else f"MISSED by {len(missed)}"))
    for query, _, _, p95_, _, _, role in sorted(results, key=lambda r: -r[3])[:plans]:
        print(f"\n-- {query.name} (p95 {p95_:.1f} ms, as the {role})\n{query.sql}")
        print(explain(logins[role], query.sql))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.bench_reads", description=__doc__.split("\n\n")[0])
    parser.add_argument("scale", nargs="?", default="demo", help="world to build: demo, 20x100000, 50x1000000")
    parser.add_argument("--database", help="measure this database of the private cluster instead of building one")
    parser.add_argument("--keep", action="store_true", help="keep the built database (its name is printed)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--readme", type=Path, default=README, help="the README whose examples to run (before/after)")
    parser.add_argument("--plans", type=int, default=3, help="EXPLAIN ANALYZE of this many slowest queries")
    args = parser.parse_args(argv)
    if args.database:
        settings = get_settings()
        cluster = LocalCluster(settings.home, settings.pg_port)
        cluster.up()
        measure_database(cluster, args.database, args)
        print(f"\ndatabase kept: {args.database}")
        return
    # the world built cold in a scratch database of its own (bench/scratch.py: dropped at the end unless --keep)
    with scratch_world(malformed=True, scale=Scale.parse(args.scale), keep=args.keep) as scratch:
        print(f"building {args.scale} into {scratch.name} (the world generated in {scratch.generated_s:.0f} s) …",
              flush=True)
        print(f"built in {build_world(scratch):.0f} s", flush=True)
        settings = get_settings()
        measure_database(LocalCluster(settings.home, settings.pg_port), scratch.name, args)
    if args.keep:
        print(f"\ndatabase kept: {scratch.name}")


def measure_database(cluster: LocalCluster, name: str, args: argparse.Namespace) -> None:
    """Every query of `name` as the logins of its busiest tenant, and the report."""
    admin = Warehouse(cluster.admin_url(name))
    tenant = busiest_tenant(admin)
    print(f"database {name}, tenant {tenant}; rows (all tenants): "
          + ", ".join(f"{rel} {n:,}" for rel, n in sizes(admin).items()), flush=True)
    queries = [("manager", q) for q in dashboard_queries(tenant)]
    # the README's examples name acme: the measured tenant instead (its rows, not an empty answer)
    queries += [("auditor", ReadQuery(q.name, q.sql.replace("'acme'", f"'{tenant}'")))
                for q in readme_selects(args.readme.read_text())]
    queries += [("auditor", ReadQuery(f"sqldoc:{mart.name}", sql.replace("'acme'", f"'{tenant}'")))
                for mart in read_marts()
                for sql in sql_statements(mart.example) if sql.lower().startswith(("select", "with"))]
    with tenant_logins(admin, cluster.url(name), tenant) as logins:
        t0 = time.perf_counter()
        results = measure(logins, queries, args.runs)
        print(f"{len(queries)} queries x {args.runs} runs in {time.perf_counter() - t0:.0f} s, "
              f"load average {os.getloadavg()[0]:.1f}")
        report(results, logins, args.plans)


if __name__ == "__main__":
    main()
