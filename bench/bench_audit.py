"""The audit chain (migration V018): what chaining adds to a bulk load of raw rows, and how long `verify` takes.

    .venv/bin/python -m bench.bench_audit [rows]

Two fresh databases load the same raw trades (one tenant, pages of 10,000 rows through the loader, COPY + insert
on conflict), one with the chain's triggers disabled; then `verify` of the chained one. Targets (issue 16):
chaining adds ≤ 15 % to a bulk load; verifying 1,000,000 chained records ≤ 10 s.

The two loads take turns page by page (plain first on even pages, chained first on odd ones): loaded one after the
other, the second load ran on a fuller cluster and a machine whose load had moved, and the order alone moved the
figure by ten points. Each page's time counts its making (as a sync's normaliser makes it) and its loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pipelines.services.audit import verify
from pipelines.settings import get_settings
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse
from warehouse.loader import copy_insert

COLUMNS = ("tenant_id", "account_id", "source", "source_record_id", "occurred_at", "symbol", "base_asset",
           "quote_asset", "side", "price", "quantity", "cost", "fee_amount", "fee_asset", "order_id", "is_maker",
           "payload", "record_hash")
PAGE = 10_000


def _rows(n: int) -> Iterator[list[Any]]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        payload = {"id": str(i), "symbol": "BTC/USDT", "side": "buy" if i % 2 else "sell", "price": "60000.5",
                   "amount": "0.01", "cost": "600.005", "fee": {"cost": "0.6", "currency": "USDT"},
                   "timestamp": 1704067200000 + i * 1000, "order": str(i // 3)}
        yield ["bench", "bench-binance", "binance", f"BTC/USDT:{i}", start + timedelta(seconds=i), "BTC/USDT",
               "BTC", "USDT", payload["side"], Decimal("60000.5"), Decimal("0.01"), Decimal("600.005"),
               Decimal("0.6"), "USDT", str(i // 3), bool(i % 3), Jsonb(payload),
               hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()]


def _load_page(url: str, rows: Iterator[list[Any]], size: int) -> float:
    started = time.perf_counter()
    page = [next(rows) for _ in range(size)]
    with psycopg.connect(url) as conn:
        copy_insert(conn, "raw.binance_trades", COLUMNS, page)
    return time.perf_counter() - started


def main(n: int) -> None:
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port, fast=settings.pg_fast)
    cluster.up()
    names = {label: f"bench_audit_{label}_{uuid.uuid4().hex[:6]}" for label in ("plain", "chained")}
    try:
        for label, name in names.items():
            cluster.create_database(name)
            cluster.migrate(name)
            with psycopg.connect(cluster.url(name)) as conn:
                conn.execute("insert into ops.tenants (tenant_id, name) values ('bench', 'Bench')")
                if label == "plain":
                    conn.execute("alter table raw.binance_trades disable trigger audit_chain_insert")
        seconds = dict.fromkeys(names, 0.0)
        rows = {label: _rows(n) for label in names}
        for page, first in enumerate(range(0, n, PAGE)):
            for label in (("plain", "chained") if page % 2 == 0 else ("chained", "plain")):
                seconds[label] += _load_page(cluster.url(names[label]), rows[label], min(PAGE, n - first))
        for label in names:
            print(f"load {label:8} {n:>10,} rows in pages of {PAGE:,}: {seconds[label]:7.2f} s "
                  f"({n / seconds[label]:>9,.0f} rows/s)")
        print(f"chaining adds {seconds['chained'] / seconds['plain'] - 1:+.1%} to the load (target ≤ +15 %)")
        wh = Warehouse(cluster.url(names["chained"]))
        started = time.perf_counter()
        (verdict,) = verify(wh, "bench")
        took = time.perf_counter() - started
        assert verdict.intact, verdict.describe()
        print(f"verify   {n:>10,} chained records ({verdict.links_checked} links): {took:7.2f} s "
              f"(target ≤ 10 s for 1,000,000)")
        print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    finally:
        for name in names.values():
            cluster.drop_database(name)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
