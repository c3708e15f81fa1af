"""Great Expectations gate timing: one raw table of N trades with 2 % bad rows, first run and re-run.

    .venv/bin/python -m bench.bench_gate [rows ...]
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb

from expectations.gate import run_gate
from pipelines.settings import get_settings
from warehouse.cluster import LocalCluster
from warehouse.loader import copy_insert

DAY = 2_000
COLUMNS = ["tenant_id", "account_id", "source", "source_record_id", "occurred_at", "symbol", "base_asset",
           "quote_asset", "side", "price", "quantity", "cost", "fee_amount", "fee_asset", "payload", "record_hash"]


def _rows(n: int, start: int = 0) -> list[tuple[object, ...]]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(start, start + n):
        bad = i % 50 == 0  # 2 %: a negative quantity
        quantity = Decimal("-0.01") if bad else Decimal("0.01")
        account = (i // 50) % 20  # blocks of 50 rows: every account gets its 2 %
        out.append((f"t{account % 4}", f"a{account}", "binance", f"BTC/USDT:{i}", t0 + timedelta(seconds=i),
                    "BTC/USDT", "BTC", "USDT", "buy", Decimal("60000"), quantity, Decimal("600"), Decimal("0.00001"),
                    "BTC", Jsonb({"id": i}), hashlib.sha256(str(i).encode()).hexdigest()))
    return out


def main(sizes: list[int]) -> None:
    settings = get_settings()
    cluster = LocalCluster(settings.home, settings.pg_port)
    cluster.up()
    # first = a full validation that quarantines the bad rows; again = validated once more, nothing new to
    # quarantine; reused = the table unchanged, the last passing verdict stands (ops.gate_verdicts); a day = 2,000
    # rows more, only they validated (the rows the last verdict judged digest as they did)
    print(f"{'rows':>9} {'first s':>8} {'again s':>8} {'reused s':>9} {'a day s':>8} {'quarantined':>12} "
          f"{'held':>5}")
    for n in sizes:
        name = f"bench_gate_{uuid.uuid4().hex[:8]}"
        cluster.create_database(name)
        url = cluster.url(name)
        try:
            cluster.migrate(name)
            with psycopg.connect(url) as conn:
                copy_insert(conn, "raw.binance_trades", COLUMNS, _rows(n))
            run_gate(url, "raw.binance_trades", "warm-up-import")  # GX import (~3-6 s) once per process
            with psycopg.connect(url) as conn:
                conn.execute("truncate ops.quarantine, ops.gate_verdicts, ops.gate_partitions")
            t0 = time.perf_counter()
            first = run_gate(url, "raw.binance_trades", "r1", reuse=False)
            t1 = time.perf_counter()
            run_gate(url, "raw.binance_trades", "r2", reuse=False)
            t2 = time.perf_counter()
            reused = run_gate(url, "raw.binance_trades", "r3")
            t3 = time.perf_counter()
            assert reused.reused_from_run == "r2", "the unchanged table was validated again"
            with psycopg.connect(url) as conn:
                copy_insert(conn, "raw.binance_trades", COLUMNS, _rows(DAY, start=n))
            t4 = time.perf_counter()
            day = run_gate(url, "raw.binance_trades", "r4")
            t5 = time.perf_counter()
            assert day.validated_since is not None and day.rows_checked == DAY, "the day's rows were not alone"
            print(f"{n:>9,} {t1 - t0:>8.2f} {t2 - t1:>8.2f} {t3 - t2:>9.2f} {t5 - t4:>8.2f} "
                  f"{first.quarantined_total:>12,} {len(first.held):>5}")
        finally:
            cluster.drop_database(name)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2_000, 100_000])
