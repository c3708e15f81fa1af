"""A scaled sandbox world through the whole nightly path (issue 17 §1): 4 tenants / 5,000 trades, registered from
the sandbox as `coinbook run` registers them, synced, gated and modelled; reconciliation finds exactly the seeded
break, every exchange position is the world's own balance, every seeded transfer is matched. Then one day of new
activity (`World.advance_day`): the next run takes exactly the new trades and the books still agree."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from pipelines.app.runner import PipelineOutcome, run_pipeline
from pipelines.services.accounts import register_accounts, specs_from_sandbox
from pipelines.services.venues import SEED_VENUES as VENUES
from sandbox.server import SandboxServer
from sandbox.world import Scale
from tests.support import definitions_for
from warehouse.connection import Warehouse

pytestmark = pytest.mark.long  # minutes: make test-long, not make test

SCALE = Scale(4, 5_000)


class Scaled:
    def __init__(self, url: str, sandbox: SandboxServer, tmp: Path) -> None:
        self.url, self.sandbox = url, sandbox
        self.wh = Warehouse(url)
        self.defs = definitions_for(url, sandbox.url)
        self.instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp))

    def run(self) -> PipelineOutcome:
        outcome = run_pipeline(self.defs, self.instance, self.wh, VENUES)
        assert outcome.success, [f for r in outcome.runs for f in r.failures + r.failed_checks]
        return outcome

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def truth(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.sandbox.url}/__sandbox/truth", timeout=60) as response:
            return json.load(response)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def scaled(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    from pipelines.app.ready import ensure_dbt_manifest
    from pipelines.settings import get_settings
    from warehouse.migrate import apply_migrations

    name = f"coinbook_scale_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    try:
        apply_migrations(url)
        ensure_dbt_manifest(get_settings(), url)
        with SandboxServer(port=0, malformed=True, scale=SCALE) as sandbox:
            register_accounts(Warehouse(url), specs_from_sandbox(sandbox.url))
            world = Scaled(url, sandbox, tmp_path_factory.mktemp("dagster"))
            world.run()
            yield world
    finally:
        cluster.drop_database(name)


def _exchange_accounts(truth: dict[str, Any]) -> dict[str, Any]:
    return {a: f for a, f in truth["accounts"].items() if f["venue"] in VENUES}


def _trades_per_account(scaled: Scaled) -> dict[str, int]:
    """Rows in the raw trade tables per account (the malformed records the sandbox mixes in included)."""
    return {account: n for venue in VENUES for account, n in scaled.query(
        f"select account_id, count(*) from raw.{venue}_trades group by 1")}


def _books_agree(scaled: Scaled) -> dict[str, Any]:
    """Reconciliation: exactly the seeded break; positions: the world's computed balances, to the last digit."""
    truth = scaled.truth()
    breaks = scaled.query("select tenant_id, account_id, asset, difference from marts.reconciliation "
                          "where status = 'break' order by 1, 2, 3")
    assert breaks == [(d["tenant_id"], d["account_id"], d["asset"], Decimal(d["delta"]))
                      for d in truth["discrepancies"]]
    positions = {(a, asset): q for a, asset, q in scaled.query(
        "select account_id, asset, quantity from marts.positions where account_kind = 'exchange'")}
    assert positions == {(a, asset): Decimal(q) for a, facts in _exchange_accounts(truth).items()
                         for asset, q in facts["computed_balances"].items() if Decimal(q) != 0}
    return truth


def test_every_tenant_is_registered_and_every_trade_landed_once(scaled: Scaled) -> None:
    truth = scaled.truth()
    accounts = _exchange_accounts(truth)
    assert {t for (t,) in scaled.query("select tenant_id from ops.tenants")} >= {
        "acme", "bluefin", "client-003", "client-004"}
    assert len(accounts) == 7 + 2 * 5  # the demo's seven, and one per venue for each generated tenant
    bogus = [m["account_id"] for m in truth["malformed"]["trades"]]
    assert _trades_per_account(scaled) == {a: f["trades"] + bogus.count(a) for a, f in accounts.items()}
    assert sum(f["trades"] for f in accounts.values()) >= 0.99 * SCALE.trades


def test_the_scaled_world_reconciles_with_exactly_the_seeded_break(scaled: Scaled) -> None:
    _books_agree(scaled)
    checked = {a for (a,) in scaled.query("select distinct account_id from marts.reconciliation")}
    assert checked >= set(_exchange_accounts(scaled.truth()))  # every exchange account (the wallets too)


def test_every_seeded_transfer_is_matched_in_the_scaled_world(scaled: Scaled) -> None:
    truth = scaled.truth()
    seeded = {(t["from_account"], t["to_account"], t["asset"], t["txid"]) for t in truth["internal_transfers"]}
    seeded |= {(t["from"], t["to"], t["asset"], t["txid"]) for t in truth["wallet_transfers"]}
    seeded |= {(t["from"], t["to"], t["asset"], t["txid"]) for t in truth["chains"]["bridges"]}
    assert {t["tenant_id"] for t in truth["internal_transfers"]} >= {"client-003", "client-004"}
    found = scaled.query("select from_account_id, to_account_id, asset, txid from marts.internal_transfers")
    assert {(f, t, a, (x or "").lower()) for f, t, a, x in found} == {(f, t, a, x.lower()) for f, t, a, x in seeded}
    assert len(found) == len(seeded)


def test_a_day_of_new_activity_is_taken_whole_and_reconciles(scaled: Scaled) -> None:
    before = _trades_per_account(scaled)
    added = scaled.sandbox.world.advance_day(1)
    outcome = scaled.run()
    after = _trades_per_account(scaled)
    assert {a: after[a] - before.get(a, 0) for a in after} == {a: added[a] for a in after}
    run_ids = [r.run_id for r in outcome.runs]
    new = sum(scaled.query(f"select count(*) from raw.{v}_trades where run_id = any(%s)", run_ids)[0][0]
              for v in VENUES)
    assert new == sum(added[a] for a in after)  # the day's trades, nothing of the history again
    _books_agree(scaled)
