"""Large and unhosted-wallet transfers and the KYC register (issue 16 §2), on a small world of its own database:
real PostgreSQL (V024), real dbt building the compliance marts over raw rows written here, the register through
the service and the CLI, the audit chain, the roles, and the flag on the tax report.

The world (day D = 2026-03-02; BTC closes 50,000 USD, ETH 2,000; EUR/USDT closes 1.25 and BTC/EUR 40,000, so the
day's rate is 1.25 USD per EUR either way; D+10: BTC 50,000, no EUR market):

    acme (USD)   binance  out 0.2 BTC        → bc1qthird1     10,000.00 USD  unhosted     not large (exactly)
                 binance  out 0.2000002 BTC  → bc1qthird2     10,000.01 USD  unhosted     large
                 binance  out 0.5 BTC        → bc1qowncold    25,000.00 USD  own_wallet   large (own wallet's address)
                 binance  out 1 ETH          → 0xkrakendep     2,000.00 USD  venue        matched to the kraken deposit
                 kraken   in  1 ETH   (address 0xkrakendep)    2,000.00 USD  venue        (internal, matched)
                 binance  out 100 DOGE       → Dxyz           no price       unhosted     unvalued: in both marts
                 binance  in  0.1 BTC  (own deposit address)  5,000.00 USD  unknown     unhosted mart only
                 binance  out 0.6 ETH        → 0xkrakendep     1,200.00 USD  venue        (its kraken address)
                 binance  in  20,000 USD (bank)               20,000.00 USD  unknown      large; fiat: not unhosted
                 cold (wallet) out 0.3 BTC → bc1qsomeone      15,000.00 USD  unhosted     large (not an exchange:
                                                                                          not in the unhosted mart)
    euro (EUR)   binance  out 0.25 BTC       → bc1qeur1       10,000.00 EUR  unhosted     not large (exactly)
                 binance  out 0.26 BTC       → bc1qeur2       10,400.00 EUR  unhosted     large
                 binance  out 0.01 BTC (D+10) → bc1qeur3      no EUR rate    unhosted     unvalued: in both marts
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from pipelines.services import compliance
from pipelines.services.audit import verify
from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
from pipelines.services.users import add_user, remove_user
from pipelines.services.venues import SEED_VENUES, dbt_vars
from tests.support import admin_warehouse
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
D = datetime(2026, 3, 2, 12, tzinfo=UTC)
MODELS = ["+transfers_valued+", "+kyc_status", "+disposals", "+missing_cost_basis", "+income"]


def dbt(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "compliance")}
    (target / "compliance").mkdir(exist_ok=True)
    (target / "compliance" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    return subprocess.run([dbt_executable(), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
                           "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=1200)


def entry_id(venue: str, tenant: str, account: str, record: str) -> str:
    """marts.ledger.ledger_entry_id of a transfer's amount leg (int_ledger: md5 of raw table, keys and leg)."""
    return hashlib.md5(f"raw.{venue}_transfers|{tenant}|{account}|{venue}|{record}|amount".encode()).hexdigest()


def insert(conn: psycopg.Connection[Any], table: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row = {**row, "payload": Jsonb(row.get("payload", {})), "record_hash": hashlib.sha256(repr(row).encode())
               .hexdigest()}
        conn.execute(f"insert into {table} ({', '.join(row)}) values ({', '.join(['%s'] * len(row))})",  # type: ignore[arg-type]
                     list(row.values()))


def transfer(venue: str, tenant: str, account: str, n: int, kind: str, asset: str, amount: str,
             address: str | None, at: datetime = D) -> dict[str, Any]:
    return {"tenant_id": tenant, "account_id": account, "source": venue, "source_record_id": f"{kind}:{n}:ok",
            "transfer_id": str(n), "transfer_type": kind, "occurred_at": at, "asset": asset,
            "amount": Decimal(amount), "fee_amount": Decimal(0), "fee_asset": asset, "status": "ok",
            "address": address, "txid": f"tx{n}"}


def candle(symbol: str, day: datetime, close: str) -> dict[str, Any]:
    base, quote = symbol.split("/")
    start = day.replace(hour=0)
    return {"tenant_id": "public", "account_id": "public", "source": "binance",
            "source_record_id": f"{symbol}:1d:{int(start.timestamp() * 1000)}", "symbol": symbol,
            "base_asset": base, "quote_asset": quote, "timeframe": "1d", "open_time": start,
            "open": Decimal(close), "high": Decimal(close), "low": Decimal(close), "close": Decimal(close),
            "volume": Decimal(1)}


def build_world(url: str) -> None:
    with psycopg.connect(url) as conn:
        for tenant, name, base in (("acme", "Acme Capital", "USD"), ("euro", "Euro GmbH", "EUR")):
            conn.execute("insert into ops.tenants (tenant_id, name, base_currency) values (%s, %s, %s)",
                         (tenant, name, base))
            conn.execute("insert into ops.portfolios (tenant_id, portfolio_id, name) values (%s, 'main', 'Main')",
                         (tenant,))
        for tenant, account, venue, kind in (("acme", "acme-binance", "binance", "exchange"),
                                             ("acme", "acme-kraken", "kraken", "exchange"),
                                             ("acme", "acme-cold", "bitcoin", "wallet"),
                                             ("euro", "euro-binance", "binance", "exchange")):
            conn.execute("insert into ops.accounts (tenant_id, account_id, portfolio_id, venue, kind, display_name) "
                         "values (%s, %s, 'main', %s, %s, %s)", (tenant, account, venue, kind, account))
        conn.execute("insert into ops.wallet_addresses (tenant_id, account_id, chain, address) "
                     "values ('acme', 'acme-cold', 'bitcoin', 'bc1qowncold')")
        insert(conn, "raw.binance_ohlcv", [
            candle("BTC/USDT", D, "50000"), candle("ETH/USDT", D, "2000"), candle("EUR/USDT", D, "1.25"),
            candle("BTC/EUR", D, "40000"), candle("BTC/USDT", D + timedelta(days=10), "50000")])
        insert(conn, "raw.binance_transfers", [
            transfer("binance", "acme", "acme-binance", 1, "withdrawal", "BTC", "0.2", "bc1qthird1"),
            transfer("binance", "acme", "acme-binance", 2, "withdrawal", "BTC", "0.2000002", "bc1qthird2"),
            transfer("binance", "acme", "acme-binance", 3, "withdrawal", "BTC", "0.5", "bc1qowncold"),
            transfer("binance", "acme", "acme-binance", 4, "withdrawal", "ETH", "1", "0xkrakendep"),
            transfer("binance", "acme", "acme-binance", 5, "withdrawal", "DOGE", "100", "Dxyz"),
            transfer("binance", "acme", "acme-binance", 6, "deposit", "BTC", "0.1", "bc1qacmedeposit"),
            transfer("binance", "acme", "acme-binance", 11, "withdrawal", "ETH", "0.6", "0xkrakendep"),
            transfer("binance", "acme", "acme-binance", 12, "deposit", "USD", "20000", None),
            transfer("binance", "euro", "euro-binance", 7, "withdrawal", "BTC", "0.25", "bc1qeur1"),
            transfer("binance", "euro", "euro-binance", 8, "withdrawal", "BTC", "0.26", "bc1qeur2"),
            transfer("binance", "euro", "euro-binance", 9, "withdrawal", "BTC", "0.01", "bc1qeur3",
                     D + timedelta(days=10))])
        insert(conn, "raw.kraken_transfers", [
            transfer("kraken", "acme", "acme-kraken", 10, "deposit", "ETH", "1", "0xkrakendep",
                     D + timedelta(minutes=20))])
        insert(conn, "raw.btc_transactions", [
            {"tenant_id": "acme", "account_id": "acme-cold", "source": "esplora", "source_record_id": "txcold",
             "txid": "txcold", "occurred_at": D, "block_height": 1, "direction": "out", "amount": Decimal("0.3"),
             "fee_amount": Decimal(0), "counterparties": Jsonb(["bc1qsomeone"])}])
        conn.execute(
            """insert into derived.transfer_matches (tenant_id, match_id, out_entry_id, in_entry_id, out_account_id,
                   in_account_id, asset, sent, received, fee_gap, sent_at, received_at, method, txid)
               values ('acme', 'm1', %s, %s, 'acme-binance', 'acme-kraken', 'ETH', 1, 1, 0, %s, %s, 'amount_time',
                       null)""",
            (entry_id("binance", "acme", "acme-binance", "withdrawal:4:ok"),
             entry_id("kraken", "acme", "acme-kraken", "deposit:10:ok"), D, D + timedelta(minutes=20)))


@pytest.fixture(scope="module")
def world(cluster: LocalCluster) -> Iterator[Warehouse]:
    name = f"coinbook_compliance_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    url = cluster.url(name)
    build_world(url)
    seeded = dbt(url, "seed")
    assert seeded.returncode == 0, seeded.stdout[-4000:]
    built = dbt(url, "run", "--select", *MODELS)
    assert built.returncode == 0, built.stdout[-6000:]
    tested = dbt(url, "test", "--select", "path:models/marts/compliance", "--exclude", "screening_matches",
                 "screening_hits", "--exclude-resource-type", "unit_test")  # screening: its own test world
    assert tested.returncode == 0, tested.stdout[-6000:]
    yield Warehouse(url)
    cluster.drop_database(name)


def rows(wh: Warehouse, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with wh.connect() as conn:
        return conn.execute(sql, params).fetchall()


LISTED = """select tenant_id, source_record_id, counterparty_kind, value, value_currency, unvalued
              from marts.{} order by tenant_id, source_record_id"""


def test_large_transfers_exceed_the_threshold_in_its_currency_or_are_unvalued(world: Warehouse) -> None:
    assert rows(world, LISTED.format("large_transfers")) == [
        ("acme", "deposit:12:ok", "unknown", Decimal("20000.00"), "USD", False),
        ("acme", "txcold", "unhosted", Decimal("15000.00"), "USD", False),
        ("acme", "withdrawal:2:ok", "unhosted", Decimal("10000.01"), "USD", False),
        ("acme", "withdrawal:3:ok", "own_wallet", Decimal("25000.00"), "USD", False),
        ("acme", "withdrawal:5:ok", "unhosted", None, "USD", True),
        ("euro", "withdrawal:8:ok", "unhosted", Decimal("10400.00"), "EUR", False),
        ("euro", "withdrawal:9:ok", "unhosted", None, "EUR", True)]
    # exactly the threshold (10,000.00 USD; 12,500 USD = 10,000.00 EUR at 1.25) is not "exceeding" it
    (fx,) = rows(world, "select usd_per_eur, value_usd, value_eur from marts.transfers_valued "
                        "where source_record_id = 'withdrawal:7:ok'")
    assert fx == (Decimal("1.25"), Decimal("12500.00"), Decimal("10000.00"))


def test_unhosted_wallet_transfers_are_the_exchange_accounts_own_unhosted_and_unknown_sides(world: Warehouse) -> None:
    assert rows(world, LISTED.format("unhosted_wallet_transfers")) == [
        ("acme", "deposit:6:ok", "unknown", Decimal("5000.00"), "USD", False),
        ("acme", "withdrawal:1:ok", "unhosted", Decimal("10000.00"), "USD", False),
        ("acme", "withdrawal:2:ok", "unhosted", Decimal("10000.01"), "USD", False),
        ("acme", "withdrawal:3:ok", "own_wallet", Decimal("25000.00"), "USD", False),
        ("acme", "withdrawal:5:ok", "unhosted", None, "USD", True),
        ("euro", "withdrawal:7:ok", "unhosted", Decimal("10000.00"), "EUR", False),
        ("euro", "withdrawal:8:ok", "unhosted", Decimal("10400.00"), "EUR", False),
        ("euro", "withdrawal:9:ok", "unhosted", None, "EUR", True)]
    (own,) = rows(world, "select own_wallet, originator, beneficiary, threshold from marts.unhosted_wallet_transfers "
                         "where source_record_id = 'withdrawal:3:ok'")
    assert own == (True, "Acme Capital", "Acme Capital (own wallet acme-cold: bc1qowncold)", Decimal("1000.00"))
    (inbound,) = rows(world, "select originator, beneficiary from marts.unhosted_wallet_transfers "
                             "where source_record_id = 'deposit:6:ok'")
    assert inbound == (None, "Acme Capital")  # the venue does not say who sent it


def test_matched_transfers_and_own_deposit_addresses_are_venues(world: Warehouse) -> None:
    assert rows(world, "select source_record_id, counterparty_kind, counterparty_venue, internal, match_id "
                       "from marts.transfers_valued where asset = 'ETH' order by 1") == [
        ("deposit:10:ok", "venue", "binance", True, "m1"),
        ("withdrawal:11:ok", "venue", "kraken", False, None),
        ("withdrawal:4:ok", "venue", "kraken", True, "m1")]


def test_a_threshold_set_applies_at_once_and_is_chained(world: Warehouse) -> None:
    before = len(rows(world, "select 1 from marts.large_transfers where tenant_id = 'acme'"))
    now = compliance.set_thresholds(world, "acme", large=Decimal(5000))
    assert (now.currency, now.large, now.unhosted) == ("USD", Decimal(5000), Decimal(1000))
    listed = {r[0] for r in rows(world, "select source_record_id from marts.large_transfers where tenant_id = 'acme'")}
    assert "withdrawal:1:ok" in listed and "deposit:6:ok" not in listed  # 10,000 over 5,000; 5,000.00 is not
    assert len(listed) == before + 1
    with pytest.raises(ValueError, match="currency"):
        compliance.set_thresholds(world, "acme", currency="GBP")
    assert rows(world, "select operation from audit.chain where tenant_id = 'acme' "
                       "and table_name = 'ops.compliance_thresholds'") == [("insert",)]
    compliance.set_thresholds(world, "acme", large=Decimal(10000))


def kyc(wh: Warehouse, tenant: str) -> tuple[Any, ...]:
    return rows(wh, "select kyc_valid, status, review_overdue, reason from marts.kyc_status where tenant_id = %s",
                tenant)[0]


def test_the_register_keeps_history_and_the_latest_review_decides(world: Warehouse) -> None:
    assert kyc(world, "acme") == (False, "none", False, "none recorded")
    assert compliance.kyc_flag(world, "acme") == ("KYC: no valid KYC record for acme (none recorded): "
                                                  "no client in the KYC register")
    compliance.add_subject(world, "acme", "acme-client", "client", "Acme Capital Ltd", country="gb")
    compliance.review(world, "acme", "acme-client", "pending", None, None, None, ["DMS:1"])
    assert kyc(world, "acme") == (False, "pending", False, "pending")
    today = datetime.now(UTC).date()
    compliance.review(world, "acme", "acme-client", "verified", today, "low", today + timedelta(days=365),
                      ["DMS:1", "DMS:2"])
    assert kyc(world, "acme") == (True, "verified", False, None)
    assert compliance.kyc_flag(world, "acme") is None
    # a beneficial owner not yet verified makes the tenant's KYC incomplete again
    compliance.add_subject(world, "acme", "jdoe", "beneficial_owner", "Jane Doe", Decimal(40), "DE")
    compliance.review(world, "acme", "jdoe", "pending", None, None, None, [])
    assert kyc(world, "acme") == (False, "verified", False, "pending")
    compliance.review(world, "acme", "jdoe", "verified", today, "medium", today + timedelta(days=180), ["PASS:9"])
    assert kyc(world, "acme") == (True, "verified", False, None)
    history = compliance.history(world, "acme", "acme-client")
    assert [h[1] for h in history] == ["pending", "verified"]
    (client,) = [s for s in compliance.subjects(world, "acme") if s.subject_id == "acme-client"]
    assert (client.status, client.documents, client.country) == ("verified", ["DMS:1", "DMS:2"], "GB")
    with pytest.raises(LookupError, match="no subject"):
        compliance.review(world, "acme", "nobody", "pending", None, None, None, [])
    # the originator of the tenant's transfers is now its KYC client's name
    assert rows(world, "select originator from marts.large_transfers where source_record_id = 'withdrawal:2:ok'") \
        == [("Acme Capital Ltd",)]


def test_the_register_is_append_only_and_chained(world: Warehouse) -> None:
    with world.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("update ops.kyc_reviews set status = 'verified'")
    tables = {r[0] for r in rows(world, "select table_name from audit.chain where tenant_id = 'acme'")}
    assert {"ops.kyc_subjects", "ops.kyc_reviews"} <= tables
    assert all(v.intact for v in verify(world))


def test_an_overdue_review_raises_an_alert_and_flags_the_tax_report(world: Warehouse, tmp_path: Path) -> None:
    from pipelines.services.reports.tax import write_tax_report
    from tests.unit.test_form8949 import pdf_text

    compliance.add_subject(world, "euro", "euro-client", "client", "Euro GmbH")
    compliance.review(world, "euro", "euro-client", "verified", date(2024, 1, 15), "high", date(2025, 1, 15),
                      ["DMS:77"])
    assert kyc(world, "euro") == (False, "verified", True, "overdue")
    # the nightly job's asset, as a Dagster run with the code location's resources
    import dagster as dg

    from pipelines.defs.compliance.transfers import kyc_alerts
    from pipelines.defs.resources import build_resources
    from pipelines.settings import CoinbookSettings

    built = build_resources(CoinbookSettings(_env_file=None, database_url=world.database_url))
    result = dg.materialize([kyc_alerts], resources={k: built[k] for k in ("warehouse", "notifier")})
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["not_valid"].value == ["euro"] and metadata["overdue"].value == ["euro"]
    assert rows(world, "select tenant_id, kind, severity from ops.alerts where resolved_at is null "
                       "and kind like 'kyc%%'") == [("euro", "kyc_review_overdue", "warning")]
    report = write_tax_report(world, "euro", 2026, tmp_path)
    assert report.kyc_flag == ("KYC: no valid KYC record for euro (overdue, review was due 2025-01-15): "
                               "client euro-client: overdue")
    assert report.kyc_flag in pdf_text(report.pdf_path.read_bytes()).splitlines()
    assert write_tax_report(world, "acme", 2026, tmp_path).kyc_flag is None
    # reviewed again: valid, and the alert resolves on the next check
    today = datetime.now(UTC).date()
    compliance.review(world, "euro", "euro-client", "verified", today, "high", today + timedelta(days=90), [])
    compliance.raise_kyc_alerts(world, datetime.now(UTC))
    assert rows(world, "select 1 from ops.alerts where resolved_at is null and kind like 'kyc%%'") == []


def test_readers_see_their_tenant_only(world: Warehouse) -> None:
    admin = admin_warehouse(world.database_url)
    for role in ("auditor", "accountant"):
        name = f"{role[:4]}_{uuid.uuid4().hex[:6]}"
        password = add_user(admin, name, role, ["euro"])
        try:
            with psycopg.connect(make_conninfo(world.database_url, user=name, password=password)) as conn:
                for rel in ("marts.large_transfers", "marts.unhosted_wallet_transfers", "marts.kyc_status",
                            "ops.kyc_reviews", "ops.kyc_subjects", "ops.compliance_thresholds"):
                    seen = {r[0] for r in conn.execute(f"select tenant_id from {rel}").fetchall()}  # type: ignore[arg-type]
                    assert seen <= {"euro"}, (role, rel, seen)
                assert {r[0] for r in conn.execute("select tenant_id from marts.large_transfers")} == {"euro"}
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("insert into ops.kyc_subjects (tenant_id, subject_id, kind, name) "
                                 "values ('euro', 'x', 'client', 'X')")
        finally:
            remove_user(admin, name)


def test_the_cli_records_and_lists(world: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from typer.testing import CliRunner

    from pipelines.app import console as consoles
    from pipelines.app.main import app
    from pipelines.settings import get_settings

    monkeypatch.setenv("COINBOOK_DATABASE_URL", world.database_url)
    officer = f"comp_{uuid.uuid4().hex[:6]}"  # changes to the register are a compliance officer's (V030)
    monkeypatch.setenv("COINBOOK_LOGIN", officer)
    monkeypatch.setenv("COINBOOK_LOGIN_PASSWORD", add_user(admin_warehouse(world.database_url), officer, "compliance",
                                                           ["euro"]))
    get_settings.cache_clear()

    def cli(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with monkeypatch.context() as m:
            for printer in (consoles.console, consoles.err_console):
                m.setattr(printer, "file", out)
                m.setattr(printer, "_width", 250)  # a table row on one line
            result = CliRunner().invoke(app, list(args))
        return result.exit_code, out.getvalue()

    try:
        code, out = cli("compliance", "thresholds", "set", "--tenant", "euro", "--unhosted", "2,000")
        assert code == 0 and "unhosted-wallet transfers over 2,000.00 EUR" in out, out
        code, out = cli("compliance", "thresholds", "show", "--tenant", "euro")
        assert "2,000.00" in out and "10,000.00" in out, out
        code, out = cli("compliance", "kyc", "add-subject", "euro-owner", "--tenant", "euro", "--kind",
                        "beneficial_owner", "--name", "Max Muster", "--ownership", "60", "--country", "AT")
        assert code == 0, out
        code, out = cli("compliance", "kyc", "review", "euro-owner", "--tenant", "euro", "--status", "verified",
                        "--risk", "low")
        assert code == 2 and "--next-review" in out, out
        code, out = cli("compliance", "kyc", "review", "euro-owner", "--tenant", "euro", "--status", "verified",
                        "--risk", "low", "--next-review", "2099-01-01", "--doc", "ID:1", "--doc", "UBO:2")
        assert code == 0, out
        code, out = cli("compliance", "kyc", "list", "--tenant", "euro")
        assert code == 0 and "Max Muster" in out and "ID:1, UBO:2" in out and "euro: KYC valid" in out, out
    finally:
        get_settings.cache_clear()
        remove_user(admin_warehouse(world.database_url), officer)
