"""The exports people actually have, imported for real (issue 15): `coinbook import` reports per file the format
detected and rows in = loaded + quarantined + ignored with the ignored lines' reasons grouped, ops.imports keeps
the same tally, the same file twice changes nothing, and the records reach int_ledger as what they are — a trade
paired from Binance statement legs is one trade, a convert is a trade, a reward is income, a bond is its fee.

A database of this module's own; the ledger is built by real dbt (the models up to int_ledger). Expected figures
are the fixtures' own cells, added up by hand in the test."""

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
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
TENANT = "exp"
D = Decimal


@pytest.fixture(scope="module")
def database_url(cluster: Any) -> Iterator[str]:
    from pipelines.services.accounts import AccountSpec, register_accounts
    from warehouse.migrate import apply_migrations

    name = f"coinbook_exports_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    apply_migrations(url)
    register_accounts(Warehouse(url), [
        AccountSpec(TENANT, "Exports Co", "p1", "P1", account, venue, account, "live", None, kind=kind)
        for account, venue, kind in (("exp-binance", "binance", "exchange"), ("exp-coinbase", "coinbase", "exchange"),
                                     ("exp-ledger", "bitcoin", "wallet"),
                                     ("exp-binance-synced", "binance", "exchange"))])
    yield url
    cluster.drop_database(name)


def coinbook_import(url: str, home: Path, path: Path, account: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINBOOK_DATABASE_URL": url, "COINBOOK_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run([str(COINBOOK), "import", str(path), "--account", account], env=env, capture_output=True,
                          text=True, timeout=120)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def counts(url: str, account: str) -> tuple[Any, ...]:
    """(raw.file_records, ops.quarantine, ops.imports) rows of an account."""
    return query(url, "select (select count(*) from raw.file_records where account_id = %s), "
                      "(select count(*) from ops.quarantine where account_id = %s), "
                      "(select count(*) from ops.imports where account_id = %s)", account, account, account)[0]


WALLETS = "a move between the account's own Binance wallets (Spot, Funding, Earn): no holding changes"
DERIVATIVES = ("derivatives: a futures, options or margin wallet's line (PnL, funding, fees, transfers) is not in the "
               "spot ledger")


def test_import_reports_the_tally_with_reasons_and_the_same_file_twice_changes_nothing(database_url: str,
                                                                                        tmp_path: Path) -> None:
    path = FIXTURES / "binance_statement.csv"
    first = coinbook_import(database_url, tmp_path, path, "exp-binance")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout.splitlines()
    # 38 data lines: 24 in 15 records (a trade of 6 lines, the dust sweep's 3 in 2 records, …), 6 quarantined, 8
    # ignored; the format is followed by how the file was read (dialect.py: the venue's own notation here)
    assert out[0] == ("binance_statement.csv (binance_statement; comma-delimited, decimal point) → exp/exp-binance: "
                      "38 rows in = 24 loaded (15 new records, 0 already present) + 6 quarantined + 8 ignored")
    assert out[1].startswith("  format detected: binance_statement: Binance transaction history (statement)")
    assert out[2:4] == [f"  ignored 4 × {WALLETS}", f"  ignored 4 × {DERIVATIVES}"]
    assert sum(line.startswith("  quarantined binance_statement.csv line ") for line in out) == 6
    (recorded,) = query(database_url, "select format, rows_in, lines_loaded, loaded_new, duplicates, quarantined, "
                                      "ignored, ignored_reasons from ops.imports where account_id = 'exp-binance'")
    assert recorded == ("binance_statement", 38, 24, 15, 0, 6, 8, {WALLETS: 4, DERIVATIVES: 4})
    assert recorded[1] == recorded[2] + recorded[5] + recorded[6]
    before = counts(database_url, "exp-binance")
    assert before == (15, 6, 1)

    again = coinbook_import(database_url, tmp_path, path, "exp-binance")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "24 loaded (0 new records, 15 already present) + 6 quarantined + 8 ignored" in again.stdout
    assert "already imported (import " in again.stdout and "nothing changed" in again.stdout
    assert "  quarantined " not in again.stdout  # reported the first time
    assert counts(database_url, "exp-binance") == before  # not a record, a quarantine row or an import row more


def _dbt_ledger(url: str) -> None:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "exports")}
    (target / "exports").mkdir(exist_ok=True)
    (target / "exports" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    done = subprocess.run([dbt_executable(), "build", "--select", "+int_ledger", "--exclude-resource-type", "test",
                           "--exclude-resource-type", "unit_test", "--project-dir", str(PROJECT), "--profiles-dir",
                           str(PROJECT), "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:]


def test_imported_exports_reach_the_ledger_as_what_they_are(database_url: str, tmp_path: Path) -> None:
    from pipelines.services.imports import import_file

    wh = Warehouse(database_url)
    import_file(wh, FIXTURES / "binance_statement.csv", "exp-binance")  # already there, or imported now
    assert import_file(wh, FIXTURES / "coinbase_transactions_types.csv", "exp-coinbase").quarantined == 1
    assert import_file(wh, FIXTURES / "ledger_live_staking.csv", "exp-ledger").quarantined == 1
    _dbt_ledger(database_url)

    def ledger(account: str) -> list[tuple[Any, ...]]:
        return query(database_url, "select source_record_id, entry_type, leg, asset, quantity from "
                                   "intermediate.int_ledger where account_id = %s order by occurred_at, leg", account)

    binance = ledger("exp-binance")
    # the two fills of 2024-03-01 09:30:07 (six lines) are one trade: one record, three legs
    (btc,) = [row for row in binance if row[3] == "BTC"]
    assert sorted((leg, asset, qty) for record, _, leg, asset, qty in binance if record == btc[0]) == [
        ("base", "BTC", D("0.005") + D("0.011")), ("fee", "BNB", -(D("0.000612") + D("0.001347"))),
        ("quote", "USDT", -(D("311.25") + D("684.75")))]
    # the convert is a trade: SOL in, USDT out, no fee leg
    convert = [row for row in binance if row[3] == "SOL"]
    assert [(r[1], r[2], r[4]) for r in convert] == [("trade_buy", "base", D("0.73421"))]
    assert sorted((r[2], r[3], r[4]) for r in binance if r[0] == convert[0][0]) == [
        ("base", "SOL", D("0.73421")), ("quote", "USDT", D("-100"))]
    incomes = {(r[3], r[4]) for r in binance if r[1] == "income"}
    assert incomes == {("USDT", D("0.154321")), ("DOT", D("0.082143")), ("PORTAL", D("3.2187")),
                       ("ALGO", D("0.08716713")), ("BTTC", D("1250")), ("USDT", D("0.0245"))}
    balances = {asset: sum((r[4] for r in binance if r[3] == asset), D(0)) for asset in {r[3] for r in binance}}
    # every USDT line of the statement that is not ignored or quarantined, by hand
    assert balances["USDT"] == (D("5000") - D("311.25") - D("684.75") + D("1720.5") - D("1.7205") - D("100")
                                + D("0.154321") - D("500") + D("0.0245") - D("2179.399758"))
    assert balances["BNB"] == D("2") - D("0.000612") - D("0.001347") + D("0.0041")
    assert (balances["BTC"], balances["ETH"], balances["SHIB"], balances["XRP"]) == (
        D("0.016"), D("-0.5"), D("-52000"), D("-1.2"))  # ETH, SHIB, XRP came in before the statement's period
    assert "LUNC" not in balances  # the quarantined Asset Recovery line

    coinbase = ledger("exp-coinbase")
    assert sorted((r[3], r[4]) for r in coinbase if r[1] == "income") == sorted([
        ("AMP", D("41.23")), ("USDC", D("0.512345")), ("USDC", D("0.034512")), ("SOL", D("0.01432")),
        ("XLM", D("5.2")), ("ATOM", D("0.0231")), ("USDC", D("2.99"))])
    assert sorted((r[1], r[3], r[4]) for r in coinbase if r[1] in ("deposit", "withdrawal")) == [
        ("deposit", "BTC", D("0.1")), ("withdrawal", "BTC", D("-0.25")), ("withdrawal", "ETH", D("-1"))]
    xlm = [r for r in coinbase if r[3] == "XLM" and r[1] != "income"]  # the convert ETH → XLM is a trade
    assert [(r[1], r[2], r[4]) for r in xlm] == [("trade_sell", "quote", D("1203.5"))]

    dot = [r for r in ledger("exp-ledger") if r[3] == "DOT"]
    assert sorted((r[1], r[4]) for r in dot) == sorted([
        ("deposit", D("120")), ("income", D("0.3124")), ("network_fee", D("-0.0158")), ("network_fee", D("-0.0162")),
        ("network_fee", D("-0.0159")), ("network_fee", D("-0.0157")), ("network_fee", D("-0.05"))])


def test_a_statement_over_a_synced_period_reports_what_the_api_already_delivered(database_url: str,
                                                                                tmp_path: Path) -> None:
    """The newer Binance statement fixture (UTC+7) imported into an account whose API sync holds the same
    period: the trade (two API fills of one second, summed by the statement), the deposit, and the withdrawal
    (the statement's whole debit = the API's amount + fee) are recognised; the interest (no API) is not."""
    account = "exp-binance-synced"
    api = [  # (table, source_record_id, columns) as the sync lands them, in UTC
        ("trades", "ETH/USDT:1", {"occurred_at": "2024-09-12T02:41:17.104Z", "symbol": "ETH/USDT", "base_asset": "ETH",
                                  "quote_asset": "USDT", "side": "buy", "price": "2342.5", "quantity": "0.3",
                                  "cost": "702.75", "fee_amount": "0.0003", "fee_asset": "ETH"}),
        ("trades", "ETH/USDT:2", {"occurred_at": "2024-09-12T02:41:17.655Z", "symbol": "ETH/USDT", "base_asset": "ETH",
                                  "quote_asset": "USDT", "side": "buy", "price": "2342.5", "quantity": "0.2",
                                  "cost": "468.5", "fee_amount": "0.0002", "fee_asset": "ETH"}),
        ("transfers", "deposit:d1:ok", {"transfer_id": "d1", "transfer_type": "deposit", "status": "ok",
                                        "occurred_at": "2024-09-03T08:01:04Z", "asset": "USDT", "amount": "2500",
                                        "fee_amount": "0", "fee_asset": "USDT"}),
        ("transfers", "withdrawal:w1:ok", {"transfer_id": "w1", "transfer_type": "withdrawal", "status": "ok",
                                           "occurred_at": "2024-10-01T01:15:02Z", "asset": "ETH", "amount": "0.1985",
                                           "fee_amount": "0.0015", "fee_asset": "ETH"})]
    with psycopg.connect(database_url) as conn:
        for table, record_id, columns in api:
            names = ", ".join(columns)
            conn.execute(f"insert into raw.binance_{table} (tenant_id, account_id, source, source_record_id, payload, "
                         f"record_hash, {names}) values (%s, %s, 'binance', %s, '{{}}', md5(%s), "
                         f"{', '.join(['%s'] * len(columns))})",
                         (TENANT, account, record_id, record_id, *columns.values()))
    name = "Binance-Transaction-History-202410021135(UTC+7).csv"
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes())
    done = coinbook_import(database_url, tmp_path / "home", path, account)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 4 records were already synced from the API" in done.stdout, done.stdout
