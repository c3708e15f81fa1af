"""The run command as a user types it (`coinbook run`, what `make run` calls), in a subprocess: the summary
shows every tenant's positions, exactly the seeded break and the quarantined records; a second run adds nothing,
leaves every raw table and the quarantine as they were (row counts and the digest of every record hash) and
prints the same positions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pipelines.services.venues import SEED_VENUES
from sandbox.server import SandboxServer
from warehouse.cluster import LocalCluster

pytestmark = pytest.mark.integration
COINBOOK = Path(sys.prefix) / "bin" / "coinbook"


@pytest.fixture(scope="module")
def cli_env(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    name = f"coinbook_cli_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    with SandboxServer(port=0, malformed=True) as sandbox:
        yield {**os.environ, "COINBOOK_DATABASE_URL": cluster.url(name), "COINBOOK_SANDBOX_URL": sandbox.url,
               "COINBOOK_HOME": str(tmp_path_factory.mktemp("home")), "COLUMNS": "200"}
    cluster.drop_database(name)


RAW_TABLES = (*(f"{venue}_{entity}" for venue in SEED_VENUES
                 for entity in ("balances", "trades", "transfers", "tickers", "ohlcv")),
              "btc_transactions", "btc_balances", "evm_transfers", "evm_balances", "defi_positions")
RUN_TIMEOUT_S = 900  # a cold run takes ~2 min on a quiet 2-core machine; CI shares it with two other workers


def _run(env: dict[str, str]) -> str:
    process = subprocess.Popen([str(COINBOOK), "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # Before giving up, ask the run where it is (the CLI dumps every thread's stack on SIGUSR1) and show
        # the end of its detail log: a stuck run in CI must say why.
        process.send_signal(signal.SIGUSR1)  # the run goes on after the dump: give it a moment, then stop it
        try:
            stdout, stderr = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"coinbook run took over {RUN_TIMEOUT_S} s\n--- stdout\n{stdout[-3000:]}\n--- stacks\n"
                    f"{stderr[-12000:]}\n--- detail log\n{_detail_log_tail(stdout)}")
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:] + _detail_log_tail(stdout)
    return stdout


def _detail_log_tail(stdout: str) -> str:
    found = re.search(r"details: (\S+\.log)", stdout)
    if not found or not Path(found.group(1)).exists():
        return "(no detail log)"
    return Path(found.group(1)).read_text(errors="replace")[-6000:]


def _fingerprint(env: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent digest of every raw table's record hashes, and the quarantine's size."""
    with psycopg.connect(env["COINBOOK_DATABASE_URL"]) as conn:
        out = {table: conn.execute(f"select count(*), coalesce(md5(string_agg(record_hash, ',' order by "
                                   f"record_hash)), '') from raw.{table}").fetchone() for table in RAW_TABLES}
        out["ops.quarantine"] = conn.execute("select count(*), '' from ops.quarantine").fetchone()
    return out  # type: ignore[return-value]


def _positions_block(output: str) -> str:
    return output[output.index("Positions by tenant"):output.index("Reconciliation breaks")]


def test_run_twice_prints_the_same_positions_and_adds_nothing(cli_env: dict[str, str]) -> None:
    first = _run(cli_env)
    assert "Positions by tenant and asset" in first
    for tenant in ("acme", "bluefin"):
        assert f"│ {tenant}" in first
    breaks = first[first.index("Reconciliation breaks"):first.index("Quarantined by the quality gate")]
    assert breaks.count("bluefin-binance") == 1 and "SOL" in breaks and "1.5" in breaks
    assert "price = 0 is not > 0" in first and "amount = -250 is not > 0" in first
    assert " 0 new raw rows" not in first
    raw = _fingerprint(cli_env)
    assert [table for table, (count, _) in raw.items() if count == 0] == []  # every venue filled every table
    second = _run(cli_env)
    assert "\n0 new raw rows this run" in second
    assert _fingerprint(cli_env) == raw
    assert _positions_block(second) == _positions_block(first)
    assert "warehouse" in second and "make dev" in second  # how to go on: UI and psql
