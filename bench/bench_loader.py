"""Bulk loader throughput: COPY into a temp table + insert on conflict do nothing.

    .venv/bin/python -m bench.bench_loader [rows]

Needs the private warehouse (`coinbook warehouse up`). Prints rows/s for a first load and an idempotent re-load.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from pipelines.settings import get_settings
from warehouse.cluster import LocalCluster
from warehouse.loader import copy_insert


def main(n: int) -> None:
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    try:
        with psycopg.connect(url) as conn:
            conn.execute("create table public.m (id text primary key, qty numeric(38,18), at timestamptz)")
        start = datetime(2025, 1, 1, tzinfo=UTC)
        rows = [(f"r{i}", Decimal(i) / 1000, start + timedelta(seconds=i)) for i in range(n)]
        for label in ("first load", "re-load (all conflicts)"):
            t0 = time.perf_counter()
            with psycopg.connect(url) as conn:
                inserted = copy_insert(conn, "public.m", ["id", "qty", "at"], rows)
            dt = time.perf_counter() - t0
            print(f"{label:26} {n:>9,} rows  inserted {inserted:>9,}  {dt:6.2f} s  {n / dt:>10,.0f} rows/s")
    finally:
        cluster.drop_database(name)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
