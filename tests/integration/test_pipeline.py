"""The whole pipeline, in-process, against the real private PostgreSQL and the sandbox over HTTP:
API → raw (idempotent) → Great Expectations gate → dbt staging → ledger → positions and reconciliation.

The expected figures come from the sandbox's ground truth (/__sandbox/truth), never from the code under test.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.accounts import register_accounts, specs_from_sandbox
from pipelines.definitions import VENUES, build_definitions
from pipelines.resources.warehouse import Warehouse
from pipelines.runner import PipelineOutcome, run_pipeline
from sandbox.server import SandboxServer

pytestmark = pytest.mark.integration
RAW_TABLES = tuple(f"{venue}_{entity}" for venue in VENUES
                   for entity in ("balances", "trades", "transfers", "tickers", "ohlcv"))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Pipeline:
    """One warehouse database, one sandbox, one Dagster instance; run() as often as a test needs."""

    def __init__(self, database_url: str, sandbox: SandboxServer, tmp: Path) -> None:
        self.url, self.sandbox = database_url, sandbox
        self.wh = Warehouse(database_url)
        register_accounts(self.wh, specs_from_sandbox(sandbox.url))
        self.defs = build_definitions(database_url, sandbox.url)
        self.instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp))
        self.outcomes: list[PipelineOutcome] = []

    def run(self) -> PipelineOutcome:
        outcome = run_pipeline(self.defs, self.instance, self.wh, VENUES)
        self.outcomes.append(outcome)
        failures = [f for r in outcome.runs for f in r.failures + r.failed_checks]
        assert outcome.success, failures
        return outcome

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def raw_fingerprint(self) -> dict[str, tuple[int, str]]:
        """Row count and an order-independent digest of every raw table's record hashes."""
        out = {}
        for table in RAW_TABLES:
            (count, digest), = self.query(
                f"select count(*), coalesce(md5(string_agg(record_hash, ',' order by record_hash)), '') "
                f"from raw.{table}")
            out[table] = (count, digest)
        return out

    def positions(self) -> dict[tuple[str, str], Decimal]:
        return {(a, asset): q for a, asset, q in self.query("select account_id, asset, quantity from marts.positions")}

    def truth(self) -> dict[str, Any]:
        """The sandbox's facts for the accounts it serves (the world spans venues whose dialect may not exist)."""
        truth = _get(f"{self.sandbox.url}/__sandbox/truth")
        served = {a["account_id"] for a in _get(f"{self.sandbox.url}/__sandbox/accounts")["accounts"]}
        truth["accounts"] = {a: f for a, f in truth["accounts"].items() if a in served}
        truth["discrepancies"] = [d for d in truth["discrepancies"] if d["account_id"] in served]
        for kind in ("trades", "deposits"):
            truth["malformed"][kind] = [m for m in truth["malformed"][kind] if m["account_id"] in served]
        return truth


@pytest.fixture(scope="module")
def pipeline(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with SandboxServer(port=0, malformed=True) as sandbox:
        p = Pipeline(database_url, sandbox, tmp_path_factory.mktemp("dagster"))
        p.run()
        yield p


def test_positions_equal_the_sandbox_ledger(pipeline: Pipeline) -> None:
    truth = pipeline.truth()
    expected = {(account, asset): Decimal(q) for account, facts in truth["accounts"].items()
                for asset, q in facts["computed_balances"].items() if Decimal(q) != 0}
    assert pipeline.positions() == expected
    unpriced = pipeline.query("select asset from marts.positions where price_usd is null or value_usd is null")
    assert unpriced == []
    tenants = {t for (t,) in pipeline.query("select distinct tenant_id from marts.positions")}
    assert tenants == {facts["tenant_id"] for facts in truth["accounts"].values()}


def test_every_trade_and_transfer_landed_exactly_once(pipeline: Pipeline) -> None:
    truth = pipeline.truth()
    malformed = truth["malformed"]
    for account, facts in truth["accounts"].items():
        venue = facts["venue"]
        bogus = sum(1 for m in malformed["trades"] if m["account_id"] == account)
        (trades,), = pipeline.query(f"select count(*) from raw.{venue}_trades where account_id = %s", account)
        assert trades == facts["trades"] + bogus, account
        (transfers,), = pipeline.query(
            f"select count(distinct (transfer_type, transfer_id)) from raw.{venue}_transfers where account_id = %s",
            account)
        bogus_deposits = sum(1 for m in malformed["deposits"] if m["account_id"] == account)
        assert transfers == facts["deposits"] + facts["withdrawals"] + bogus_deposits, account
    for venue in {facts["venue"] for facts in truth["accounts"].values()}:
        rows = pipeline.query(f"select payload, source, record_hash from raw.{venue}_trades limit 50")
        assert rows and all(payload and source == venue and len(digest) == 64 for payload, source, digest in rows)


def test_malformed_records_are_quarantined_and_kept_out_of_the_models(pipeline: Pipeline) -> None:
    malformed = pipeline.truth()["malformed"]
    quarantined = pipeline.query("select raw_table, source_record_id, check_name, reason from ops.quarantine")
    ids = {(t, r) for t, r, _, _ in quarantined}
    for m in malformed["trades"]:
        assert (f"raw.{m['venue']}_trades", f"{m['symbol']}:{m['id']}") in ids, m
    for m in malformed["deposits"]:
        assert any(t == f"raw.{m['venue']}_transfers" and r.startswith(f"deposit:{m['id']}:") for t, r in ids), m
    assert all(reason and check.startswith("expect_") for _, _, check, reason in quarantined)
    leaked = pipeline.query("""
        select count(*) from intermediate.int_ledger l
        join ops.quarantine q on q.raw_table = l.raw_table and q.source_record_id = l.source_record_id
                             and q.account_id = l.account_id""")
    assert leaked == [(0,)]
    assert len(ids) == len(malformed["trades"]) + len(malformed["deposits"])  # nothing good was quarantined


def test_reconciliation_finds_the_seeded_break_and_nothing_else(pipeline: Pipeline) -> None:
    truth = pipeline.truth()
    breaks = pipeline.query("""select tenant_id, account_id, asset, difference from marts.reconciliation
                               where status = 'break'""")
    assert breaks == [(d["tenant_id"], d["account_id"], d["asset"], Decimal(d["delta"]))
                      for d in truth["discrepancies"]]
    (checked,), = pipeline.query("select count(*) from marts.reconciliation")
    assert checked >= 5 * len(truth["accounts"]) - 1


def test_three_consecutive_runs_leave_every_raw_table_identical(pipeline: Pipeline) -> None:
    first_raw, first_positions = pipeline.raw_fingerprint(), pipeline.positions()
    (quarantine_before,), = pipeline.query("select count(*) from ops.quarantine")
    assert [table for table, (count, _) in first_raw.items() if count == 0] == []  # every venue filled every table
    for _ in (2, 3):
        outcome = pipeline.run()
        assert outcome.inserted == 0
        assert pipeline.raw_fingerprint() == first_raw  # row counts and the digest of every record hash
        assert pipeline.positions() == first_positions
        assert pipeline.query("select count(*) from ops.quarantine") == [(quarantine_before,)]


def test_new_activity_is_picked_up_incrementally(pipeline: Pipeline) -> None:
    added = _post(f"{pipeline.sandbox.url}/__sandbox/advance", {"trades": 3})["added"]
    outcome = pipeline.run()
    run_ids = [r.run_id for r in outcome.runs]
    new_trades = sum(pipeline.query(f"select count(*) from raw.{v}_trades where run_id = any(%s)", run_ids)[0][0]
                     for v in VENUES)
    truth = pipeline.truth()
    assert new_trades == sum(n for account, n in added.items() if account in truth["accounts"])
    expected = {(account, asset): Decimal(q) for account, facts in truth["accounts"].items()
                for asset, q in facts["computed_balances"].items() if Decimal(q) != 0}
    assert pipeline.positions() == expected
    breaks = pipeline.query("select account_id, asset from marts.reconciliation where status = 'break'")
    assert breaks == [(d["account_id"], d["asset"]) for d in truth["discrepancies"]]
    # incremental: the trade sync asked for new trades from its cursors, not the whole history again
    first_calls = sum(r.api_calls for r in pipeline.outcomes[0].runs if r.partition)
    later_calls = sum(r.api_calls for r in outcome.runs if r.partition)
    assert later_calls < first_calls
