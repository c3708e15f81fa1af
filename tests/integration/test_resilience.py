"""Venues that misbehave, against the sandbox over HTTP and the real PostgreSQL, with real Dagster runs:
20 % of calls failing (429 with Retry-After, 5xx, timeouts, garbled bodies), one venue down for a whole run,
a run killed with SIGKILL in the middle of a load, and no secret anywhere it could leak to.

Every test gets its own database, so the runs do not see each other's cursors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import dagster as dg
import psycopg
import pytest

from pipelines.app.runner import PipelineOutcome, run_pipeline
from pipelines.defs.exchanges.resources import ExchangeResource
from pipelines.services.accounts import account as account_of
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.services.clients import sandbox_api_base
from pipelines.services.venues import SEED_VENUES as VENUES
from pipelines.sources.exchanges.client import Credentials, make_exchange
from pipelines.sources.exchanges.resilience import CallStats, GarbledResponse, RetryPolicy, harden
from sandbox.server import SandboxServer
from tests.support import definitions_for
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_database(cluster: Any) -> Iterator[Callable[[], str]]:

    made: list[str] = []

    def make() -> str:
        name = f"coinbook_resilience_{uuid.uuid4().hex[:8]}"
        cluster.create_database(name)
        made.append(name)
        url = cluster.url(name)
        cluster.migrate(name)
        return url

    yield make
    for name in made:
        cluster.drop_database(name)


def _truth(sandbox: SandboxServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sandbox.url}/__sandbox/truth", timeout=10) as response:
        truth = json.load(response)
    with urllib.request.urlopen(f"{sandbox.url}/__sandbox/accounts", timeout=10) as response:
        served = {a["account_id"] for a in json.load(response)["accounts"]}
    truth["accounts"] = {a: f for a, f in truth["accounts"].items() if a in served}
    return truth


class Harness:
    def __init__(self, url: str, sandbox: SandboxServer, home: Path) -> None:
        self.url, self.sandbox, self.wh = url, sandbox, Warehouse(url)
        register_accounts(self.wh, specs_from_sandbox(sandbox.url))
        # Short timeouts and back-off so a faulty run stays quick; the retry logic is the production one.
        resource = ExchangeResource(sandbox_url=sandbox.url, database_url=url, home=str(home), timeout_ms=1500,
                                    base_delay_s=0.02, max_attempts=8)
        self.defs = definitions_for(url, sandbox.url, resources={"exchanges": resource})
        self.instance = dg.DagsterInstance.ephemeral(tempdir=str(home / "dagster"))

    def run(self) -> PipelineOutcome:
        # Every account's full sync, then the fast tier's transform (gates and the models up to positions):
        # what these tests check is ingestion under faults; lots, risk and prices have their own tests, and
        # the nightly transform would triple each run's time.
        return run_pipeline(self.defs, self.instance, self.wh, VENUES, transform="positions_refresh")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def counts(self, account: str, venue: str) -> tuple[int, int, int]:
        """(trade rows, distinct transfers, duplicate trade rows) of one account."""
        (trades, distinct), = self.query(
            f"select count(*), count(distinct (payload::text)) from raw.{venue}_trades where account_id = %s", account)
        (transfers,), = self.query(f"select count(distinct (transfer_type, transfer_id)) from raw.{venue}_transfers "
                                   "where account_id = %s and transfer_type in ('deposit', 'withdrawal')", account)
        return trades, transfers, trades - distinct

    def assert_every_record_exactly_once(self, truth: dict[str, Any], venues: set[str] | None = None) -> None:
        for account, facts in truth["accounts"].items():
            if venues is not None and facts["venue"] not in venues:
                continue
            trades, transfers, duplicates = self.counts(account, facts["venue"])
            assert (trades, transfers, duplicates) == (
                facts["trades"], facts["deposits"] + facts["withdrawals"], 0), account

    def positions(self) -> dict[tuple[str, str], Decimal]:
        return {(a, s): q for a, s, q in self.query(
            "select account_id, asset, quantity from marts.positions where account_kind = 'exchange'")}


def _expected_positions(truth: dict[str, Any], venues: set[str] | None = None) -> dict[tuple[str, str], Decimal]:
    return {(a, asset): Decimal(q) for a, facts in truth["accounts"].items()
            if venues is None or facts["venue"] in venues
            for asset, q in facts["computed_balances"].items() if Decimal(q) != 0}


def test_retry_after_is_honoured_and_a_garbled_body_is_an_error_not_a_crash() -> None:
    with SandboxServer(port=0) as sandbox:
        creds = sandbox.world.credentials["acme-binance-main"]
        sandbox.set_faults(error_rate=1.0, statuses=[429], retry_after_s=1)
        stats = CallStats()
        exchange = harden(make_exchange("binance", Credentials(creds.api_key, creds.secret), sandbox_url=sandbox.url,
                                        rate_limit=False), policy=RetryPolicy(max_attempts=2), stats=stats)
        started = time.monotonic()
        with pytest.raises(ccxt.DDoSProtection):  # what ccxt makes of Binance's 429 (RateLimitExceeded's parent)
            exchange.fetch_time()
        assert time.monotonic() - started >= 1.0 and stats.calls == 2 and stats.retries == 1
        sandbox.set_faults(error_rate=0.0, truncate_rate=1.0)
        with pytest.raises(GarbledResponse) as garbled:
            exchange.fetch_balance()
        assert garbled.value.status == 200 and garbled.value.body and stats.garbled >= 2


@pytest.mark.long
def test_twenty_percent_faults_every_record_exactly_once(fresh_database: Callable[[], str],
                                                        tmp_path: Path) -> None:
    with SandboxServer(port=0) as sandbox:
        sandbox.set_faults(error_rate=0.10, statuses=[429, 500, 503], retry_after_s=0, timeout_rate=0.05,
                           hang_s=2.0, truncate_rate=0.05)
        harness = Harness(fresh_database(), sandbox, tmp_path)
        outcome = harness.run()
        assert outcome.success, [f for r in outcome.runs for f in r.failures]
        truth = _truth(sandbox)
        harness.assert_every_record_exactly_once(truth)
        assert harness.positions() == _expected_positions(truth)
        retries = harness.query("select sum(retries) from ops.api_usage")[0][0]
        assert retries and retries > 10  # the faults were met, and survived


@pytest.mark.long
def test_one_venue_down_the_others_complete_and_an_alert_is_raised(fresh_database: Callable[[], str],
                                                                  tmp_path: Path) -> None:
    with SandboxServer(port=0) as sandbox:
        sandbox.set_faults(down_venues=["kraken"])
        harness = Harness(fresh_database(), sandbox, tmp_path)
        outcome = harness.run()
        failed = {r.partition for r in outcome.runs if not r.success}
        assert failed == {"acme.acme-kraken"}, failed  # only the dead venue's partition failed...
        transform = outcome.runs[-1]
        assert transform.partition is None and transform.success  # ...and the models were built anyway
        truth = _truth(sandbox)
        others = {f["venue"] for f in truth["accounts"].values()} - {"kraken"}
        harness.assert_every_record_exactly_once(truth, others)
        positions = harness.positions()
        assert {k: v for k, v in positions.items() if not k[0].endswith("kraken")} == _expected_positions(truth, others)
        # the run judged freshness itself (the source_freshness asset): the dead venue's three endpoints are stale
        stale = {f"kraken:acme-kraken:{e}" for e in ("balances", "transfers", "trades")}
        subjects = {s for (s,) in harness.query("select subject from ops.alerts where resolved_at is null")}
        assert subjects == stale

        sandbox.set_faults(down_venues=[])  # the venue is back: the next tick retries the failed partition
        assert harness.run().success
        harness.assert_every_record_exactly_once(truth)
        assert harness.positions() == _expected_positions(truth)
        assert harness.query("select count(*) from ops.alerts where resolved_at is null") == [(0,)]
        resolved = {s for (s,) in harness.query("select subject from ops.alerts where resolved_at is not null")}
        assert resolved == stale


KILLABLE_RUN = textwrap.dedent("""
    import sys, dagster as dg
    from pipelines.app.runner import run_pipeline
    from pipelines.defs.exchanges.resources import ExchangeResource
    from pipelines.services.venues import SEED_VENUES
    from tests.support import definitions_for
    from warehouse.connection import Warehouse
    url, sandbox_url, home = sys.argv[1:4]
    resource = ExchangeResource(sandbox_url=sandbox_url, database_url=url, home=home)
    defs = definitions_for(url, sandbox_url, resources={"exchanges": resource})
    run_pipeline(defs, dg.DagsterInstance.ephemeral(), Warehouse(url), SEED_VENUES)
""")


def test_sigkill_in_the_middle_of_a_load_then_rerun_exactly_once(fresh_database: Callable[[], str],
                                                                 tmp_path: Path) -> None:
    with SandboxServer(port=0) as sandbox:
        url = fresh_database()
        harness = Harness(url, sandbox, tmp_path)
        sandbox.set_faults(latency_ms=15)  # slow enough to be caught mid-sync
        process = subprocess.Popen([sys.executable, "-c", KILLABLE_RUN, url, sandbox.url, str(tmp_path / "killed")],
                                   cwd=PROJECT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                (loaded,), = harness.query("select count(*) from raw.binance_trades")
                if loaded > 0:
                    break
                time.sleep(0.1)
            assert loaded > 0, "the run never started loading"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        truth = _truth(sandbox)
        total = sum(f["trades"] for f in truth["accounts"].values())
        partial = sum(harness.counts(a, f["venue"])[0] for a, f in truth["accounts"].items())
        assert 0 < partial < total  # killed in the middle, with committed pages behind it
        running = harness.query("select count(*) from ops.sync_log where status = 'running'")[0][0]
        assert running >= 1  # the killed sync never got to write its end

        sandbox.set_faults(latency_ms=0)
        assert harness.run().success
        harness.assert_every_record_exactly_once(truth)
        assert harness.positions() == _expected_positions(truth)


def test_no_secret_reaches_logs_event_log_or_warehouse(fresh_database: Callable[[], str], tmp_path: Path) -> None:
    with SandboxServer(port=0, malformed=True) as sandbox:
        harness = Harness(fresh_database(), sandbox, tmp_path)
        # one account with a wrong secret, so that failures (and their messages) are part of what is checked
        wrong = Credentials(sandbox.world.credentials["acme-binance-ops"].api_key, "not-the-secret-" + "x" * 40)
        os.environ["COINBOOK_SECRET_BROKEN_API_KEY"] = wrong.api_key
        os.environ["COINBOOK_SECRET_BROKEN_SECRET"] = wrong.secret
        try:
            with harness.wh.connect() as conn:
                conn.execute("update ops.accounts set credential_ref = 'env:broken' "
                             "where account_id = 'acme-binance-ops'")
            outcome = harness.run()
        finally:
            del os.environ["COINBOOK_SECRET_BROKEN_API_KEY"], os.environ["COINBOOK_SECRET_BROKEN_SECRET"]
        assert {r.partition for r in outcome.runs if not r.success} == {"acme.acme-binance-ops"}
        secrets = [c.secret for c in sandbox.world.credentials.values()] + [wrong.secret]
        # the event log of every run, as Dagster stored it
        events = "\n".join(str(record) for run in harness.instance.get_runs()
                           for record in harness.instance.all_logs(run.run_id))
        assert "AuthenticationError" in events or "Invalid API-key" in events  # the failure is there...
        # ...and the warehouse, every text and json column of ops, raw and audit
        tables = harness.query("""select table_schema, table_name from information_schema.tables
                                  where table_schema in ('ops', 'raw', 'audit') and table_type = 'BASE TABLE'""")
        dump = "\n".join(str(row) for schema, table in tables
                         for row in harness.query(f"select * from {schema}.{table}"))
        for secret in secrets:
            assert secret not in events, "a secret in the Dagster event log"
            assert secret not in dump, "a secret in the warehouse"
        logs = "\n".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
        assert not any(secret in logs for secret in secrets)


def test_encrypted_credentials_drive_a_sync_and_never_sit_in_plaintext(fresh_database: Callable[[], str],
                                                                       tmp_path: Path) -> None:
    with SandboxServer(port=0) as sandbox:
        url = fresh_database()
        creds = sandbox.world.credentials["acme-kraken"]
        env = {**os.environ, "COINBOOK_DATABASE_URL": url, "COINBOOK_HOME": str(tmp_path),
               "COINBOOK_MASTER_KEY_FILE": str(tmp_path / "master.key")}
        added = subprocess.run(
            [sys.executable, "-m", "pipelines.app.main", "accounts", "add", "--tenant", "acme", "--account",
             "acme-kraken", "--venue", "kraken", "--mode", "sandbox", "--history-start", "2025-06-01T00:00:00+00:00",
             "--api-key-stdin"],
            input=f"{creds.api_key} {creds.secret}", capture_output=True, text=True, cwd=PROJECT, env=env, timeout=120)
        assert added.returncode == 0, added.stderr
        assert creds.secret not in added.stdout + added.stderr
        assert (tmp_path / "master.key").stat().st_mode & 0o077 == 0  # the key file is private
        wh = Warehouse(url)
        refs = psycopg.connect(url).execute(
            "select credential_ref from ops.accounts where account_id = 'acme-kraken'").fetchall()
        assert refs == [("db:acme-kraken",)]
        raw = psycopg.connect(url).execute("select ciphertext, api_key_hint from ops.credentials").fetchall()
        assert len(raw) == 1 and creds.secret.encode() not in bytes(raw[0][0]) and raw[0][1] == creds.api_key[:4]

        resource = ExchangeResource(sandbox_url=sandbox.url, database_url=url, home=str(tmp_path),
                                    master_key_file=str(tmp_path / "master.key"))
        balance = resource.get().client(account_of(wh, "acme.acme-kraken")).fetch_balance()
        reported = sandbox.world.reported_balances("acme-kraken")
        assert {k: Decimal(v) for k, v in balance["total"].items()} == reported
        assert sandbox_api_base(sandbox.url, "kraken").endswith("/kraken")


def test_credentials_from_vault_through_hvac(monkeypatch: pytest.MonkeyPatch) -> None:
    """hvac, for real, against a local HTTP endpoint that answers as Vault's KV v2 engine does (no Vault server
    can be installed here); the token travels in the header, and a wrong token is refused."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from pipelines.services.credentials import KeySources, read_vault
    from pipelines.settings import CoinbookSettings
    from pipelines.sources.exchanges.client import CredentialError

    def vault() -> KeySources:  # the settings read COINBOOK_VAULT_* from the environment, as a resource would
        return KeySources.from_settings(CoinbookSettings(_env_file=None))

    seen: list[tuple[str, str | None]] = []

    class Vault(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("X-Vault-Token")))
            if self.headers.get("X-Vault-Token") != "s.test-token":
                body, status = {"errors": ["permission denied"]}, 403
            elif self.path == "/v1/kv/data/coinbook/acme-kraken":
                body, status = {"data": {"data": {"api_key": "vault-key", "secret": "vault-secret-value"},
                                         "metadata": {"version": 3, "deletion_time": "", "destroyed": False}}}, 200
            else:
                body, status = {"errors": []}, 404
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Vault)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("COINBOOK_VAULT_ADDR", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("COINBOOK_VAULT_MOUNT", "kv")
        monkeypatch.setenv("COINBOOK_VAULT_TOKEN", "s.test-token")
        creds = read_vault("coinbook/acme-kraken", vault())
        assert (creds.api_key, creds.secret) == ("vault-key", "vault-secret-value")
        assert seen[-1] == ("/v1/kv/data/coinbook/acme-kraken", "s.test-token")
        monkeypatch.setenv("COINBOOK_VAULT_TOKEN", "s.wrong")
        with pytest.raises(CredentialError) as refused:
            read_vault("coinbook/acme-kraken", vault())
        assert "s.wrong" not in str(refused.value)
    finally:
        server.shutdown()


def test_a_faulted_post_leaves_the_kept_alive_connection_usable() -> None:
    """A fault answered before the request's body was read left the body in the stream: the next request on the
    same kept-alive connection was parsed from it and got the HTTP server's 400 page (seen: an EVM JSON-RPC call
    failing the 20 %-faults run). Every answer now follows a read body."""
    import requests

    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    with SandboxServer(port=0) as sandbox, requests.Session() as session:
        sandbox.set_faults(error_rate=1.0, statuses=[429], retry_after_s=0)
        refused = session.post(f"{sandbox.url}/rpc/ethereum", json=call, timeout=10)
        assert refused.status_code == 429
        sandbox.set_faults(error_rate=0.0)
        answered = session.post(f"{sandbox.url}/rpc/ethereum", json=call, timeout=10)  # the same connection
        assert answered.status_code == 200, answered.text[:200]
        assert "result" in answered.json()
