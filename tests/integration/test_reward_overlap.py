"""A Coinbase reward that both the v2 API and an imported transaction history list counts once (issue 15).

The sync lands Coinbase's v2 `staking_reward` and `inflation_reward` transactions as income rows of
raw.coinbase_transfers; the user then imports the Coinbase transaction-history CSV of the same period, whose
Staking Income and Inflation Reward lines are the same rewards. `coinbook import` says how many records the API
already delivered, and int_ledger (built by real dbt) books each reward once: the API's. The file's other rewards,
which the API did not list, are booked from the file. Expected figures are the fixture's own cells."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
from pipelines.services.venues import SEED_VENUES, dbt_vars
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
COINBOOK = Path(sys.prefix) / "bin" / "coinbook"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "imports" / "coinbase_transactions.csv"
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
TENANT, ACCOUNT = "ovl", "ovl-coinbase"
D = Decimal
# The rewards of the fixture the API delivered too, as the sync lands them (v2 types staking_reward and
# inflation_reward → income; the amount is the wallet's credit; the time is created_at, UTC)
API_REWARDS = [("a0c4-staking", "ETH", "0.00123", "2024-03-06T00:00:00Z"),
               ("a0c4-inflation", "XTZ", "0.05", "2024-03-11T04:00:00Z")]


@pytest.fixture(scope="module")
def database_url(cluster: Any) -> Iterator[str]:
    from pipelines.services.accounts import AccountSpec, register_accounts
    from warehouse.migrate import apply_migrations

    name = f"coinbook_overlap_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    apply_migrations(url)
    register_accounts(Warehouse(url), [AccountSpec(TENANT, "Overlap Co", "p1", "P1", ACCOUNT, "coinbase", ACCOUNT,
                                                   "live", None, kind="exchange")])
    with psycopg.connect(url) as conn:
        for transfer_id, asset, amount, at in API_REWARDS:
            conn.execute("""insert into raw.coinbase_transfers (tenant_id, account_id, source, source_record_id,
                                payload, record_hash, transfer_id, transfer_type, occurred_at, asset, amount, status)
                            values (%s, %s, 'coinbase', %s, '{}', md5(%s), %s, 'income', %s, %s, %s, 'ok')""",
                         (TENANT, ACCOUNT, f"income:{transfer_id}:ok", transfer_id, transfer_id, at, asset, amount))
    yield url
    cluster.drop_database(name)


def _query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _dbt_ledger(url: str) -> None:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "overlap")}
    (target / "overlap").mkdir(exist_ok=True)
    (target / "overlap" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    done = subprocess.run([dbt_executable(), "build", "--select", "+int_ledger", "--exclude-resource-type", "test",
                           "--exclude-resource-type", "unit_test", "--project-dir", str(PROJECT), "--profiles-dir",
                           str(PROJECT), "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:]


def test_a_reward_synced_and_imported_counts_once(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "COINBOOK_DATABASE_URL": database_url, "COINBOOK_HOME": str(tmp_path), "COLUMNS": "250"}
    done = subprocess.run([str(COINBOOK), "import", str(FIXTURE), "--account", ACCOUNT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (records,), = _query(database_url, "select count(*) from raw.file_records where account_id = %s", ACCOUNT)
    # the two rewards the API listed, nothing else (its trades and transfers are not in this API's tables)
    assert f"2 of {records} records were already synced from the API" in done.stdout, done.stdout
    _dbt_ledger(database_url)
    income = _query(database_url, """select asset, quantity, raw_table from intermediate.int_ledger
                                     where account_id = %s and entry_type = 'income' order by occurred_at""", ACCOUNT)
    # the fixture's income lines: Staking Income 0.00123 ETH and Inflation Reward 0.05 XTZ (the API's, once each),
    # Rewards Income 1.25 USDC and Learning Reward 3.1 GRT (the file's only)
    assert [(a, q) for a, q, _ in income] == [("ETH", D("0.00123")), ("USDC", D("1.25")), ("GRT", D("3.1")),
                                              ("XTZ", D("0.05"))], income
    assert [t for a, _, t in income if a in ("ETH", "XTZ")] == ["raw.coinbase_transfers"] * 2
    assert [t for a, _, t in income if a in ("USDC", "GRT")] == ["raw.file_records"] * 2
