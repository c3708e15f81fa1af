"""A transform keeps the dbt models whose inputs did not change (issue 17 §2; services/dbt_reuse.py), and what it
keeps is what a full refresh builds.

On a copy of the acme_main_earn world (one nightly run, shared with test_earn, test_rebalancing, test_execution):
(1) a transform with nothing new builds no model and starts no dbt: every model is reported kept, with its tests'
results, but the arbitrage view (each transform scans the venues' books afresh), whose tests run as the SQL dbt
compiled for them; (2) such a test failing fails its step, and one whose SQL no longer runs is left to dbt;
(3) a changed lot method rebuilds the lot marts and what reads them, and nothing that does not (staging, prices,
the ledger), and a dropped view is built again; (4) a day of new activity (trades, a move into Kraken Earn,
rewards) is booked into the ledger incrementally — the new API trades and the touched accounts' other records, not
the history — and a full refresh then gives every mart the same content; (5) so does one after (1)–(3), from a
warehouse whose int_ledger is still the view it was before the incremental ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from pipelines.app.runner import PipelineOutcome, run_pipeline
from pipelines.services.dbt_reuse import FULL_REFRESH_TAG
from pipelines.services.venues import SEED_VENUES
from sandbox.server import SandboxServer
from tests.integration.test_earn import COIN, KRAKEN, WORLD
from tests.support import definitions_for, synced_world
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration

TRANSFORM = "nightly_reconciliation"
# marts whose content is not a function of the synced data alone: built at (data_status.built_at) or appended per
# build (reconciliation_break_history), or fed by what every transform does anew: a scan of the venues' books
# (arbitrage_opportunities), the alerts it raises and resolves (open_alerts: a source goes stale as the session
# ages)
CLOCK_COLUMNS = {"data_status": ["built_at"], "quarantine_by_source": ["gate_checked_at"],  # as of the build
                 "ledger": ["loaded_through"],  # the build's: where the next incremental one takes up
                 # how many builds saw a break, since when: a full refresh is one more build
                 "reconciliation_breaks": ["first_seen_at", "builds_seen"]}
NOT_COMPARED = {"reconciliation_break_history", "arbitrage_opportunities", "open_alerts"}
# what a transform with nothing new may find changed: those two views (whose tests then run, without dbt)
ALWAYS_NEW = {"model.coinbook.arbitrage_opportunities", "model.coinbook.open_alerts"}
ALERTS_TEST = "test.coinbook.accepted_values_open_alerts_severity__info__warning__critical.1d7f09ff0e"


World = tuple[str, dg.Definitions, SandboxServer]  # the database, its definitions, the sandbox serving it


@pytest.fixture(scope="module")
def world(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("model_reuse")
    with synced_world(cluster, WORLD, tmp) as synced:
        yield synced.url, definitions_for(synced.url, synced.sandbox.url), synced.sandbox


def _q(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _transform(defs: dg.Definitions, tags: dict[str, str] | None = None, *,
               instance: dg.DagsterInstance | None = None, succeeds: bool = True) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(TRANSFORM).execute_in_process(instance=instance or dg.DagsterInstance.ephemeral(),
                                                                 raise_on_error=False, tags=tags or {})
    assert result.success is succeeds, [str(e.event_specific_data)[:300] for e in result.all_events if e.is_failure]
    return result


def _dbt_started(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> set[str]:
    """The steps of the run that started dbt."""
    return {e.step_key for e in instance.all_logs(result.run_id)
            if e.step_key and (e.user_message or "").startswith("Running dbt command")}


def _built(url: str, run_id: str) -> set[str]:
    return {uid for (uid,) in _q(url, "select unique_id from ops.dbt_node_builds where run_id = %s", run_id)}


def _kept_models(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
            if e.asset_key and "kept" in e.materialization.metadata}


def _marts(url: str) -> dict[str, str]:
    """Every mart's content: row count and a digest of its rows in a fixed order, clock columns left out."""
    out = {}
    for (name,) in _q(url, """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                              where n.nspname = 'marts' and c.relkind in ('r', 'v') order by 1"""):
        if name in NOT_COMPARED:
            continue
        columns = [c for (c,) in _q(url, """select column_name from information_schema.columns
                                            where table_schema = 'marts' and table_name = %s
                                            order by ordinal_position""", name)
                   if c not in CLOCK_COLUMNS.get(name, [])]
        row = sql.SQL("row({})::text").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns))
        with psycopg.connect(url) as conn:
            query = sql.SQL("select count(*) || ':' || coalesce(md5(string_agg({r}, '|' order by {r})), '') "
                            "from {t} t").format(r=row, t=sql.Identifier("marts", name))
            (digest,) = conn.execute(query).fetchone()  # type: ignore[misc]
        out[name] = digest
    return out


def test_nothing_new_builds_nothing_and_starts_no_dbt(world: World) -> None:
    url, defs, _ = world
    before = _marts(url)
    # this copy of the world has a database name of its own, which the SQL dbt compiled names: the tests that
    # must run are compiled again by dbt once, then run without it
    _transform(defs)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _transform(defs, instance=instance)
        assert not _dbt_started(instance, result), [e.user_message for e in instance.all_logs(result.run_id)
                                                    if "to build or run" in (e.user_message or "")]
    built = _built(url, result.run_id)
    assert not {uid for uid in built if uid.startswith("model.")}, built
    # only the tests of the views whose data changed ran (as SQL), each of them on such a view
    assert all(uid.startswith("test.") and any(m.removeprefix("model.coinbook.") in uid for m in ALWAYS_NEW)
               for uid in built), built
    assert "test.coinbook.unique_arbitrage_opportunities_opportunity_id.e3d654354e" in built  # a new scan each run
    views = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
             if e.asset_key and "not rebuilt" in e.materialization.metadata}
    assert "arbitrage_opportunities" in views and views <= {m.removeprefix("model.coinbook.") for m in ALWAYS_NEW}
    kept = _kept_models(result)
    assert {"positions", "int_ledger", "disposals", "reconciliation", "portfolio_var", "stg_binance__trades"} <= kept
    assert not kept & views
    # the kept models' tests gate the steps after them as before: each reported, with its last result
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    kept_checks = [c for c in checks if "kept" in c.metadata]
    assert len(kept_checks) > 100 and all(c.passed for c in kept_checks)
    as_sql = [c for c in checks if "run as SQL" in c.metadata]
    assert as_sql and all(c.passed for c in as_sql)
    assert _marts(url) == before


def _must_run_with(url: str, uid: str, compiled_sql: str) -> None:
    """`uid` must run in the next transform (its stored signature is stale), with `compiled_sql` as its SQL."""
    with psycopg.connect(url) as conn:
        assert conn.execute("""update ops.dbt_node_builds set signature = 'stale', compiled_sql = %s
                               where unique_id = %s""", (compiled_sql, uid)).rowcount == 1


def test_a_test_run_as_sql_fails_its_step_and_one_whose_sql_fails_is_left_to_dbt(
        world: World) -> None:
    url, defs, _ = world
    _must_run_with(url, ALERTS_TEST, "select 'bogus' as severity")  # one failing row
    with dg.DagsterInstance.ephemeral() as instance:
        result = _transform(defs, instance=instance, succeeds=False)
        assert not _dbt_started(instance, result)
    failed = [e for e in result.all_events if e.is_step_failure]
    assert len(failed) == 1 and ALERTS_TEST in str(failed[0].event_specific_data)
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
              and "run as SQL" in e.event_specific_data.metadata]
    assert [(c.passed, c.metadata["failures"].value) for c in checks
            if c.asset_check_key.name.startswith("accepted_values_open_alerts")] == [(False, 1)]
    assert _q(url, "select status, failures from ops.dbt_node_builds where unique_id = %s", ALERTS_TEST) == [
        ("fail", 1)]

    # SQL that no longer runs (a relation renamed since it was compiled): dbt runs the step, compiles it again
    _must_run_with(url, ALERTS_TEST, "select severity from marts.no_such_relation")
    with dg.DagsterInstance.ephemeral() as instance:
        result = _transform(defs, instance=instance)
        started = _dbt_started(instance, result)
    assert len(started) == 1, started
    [(status, compiled)] = _q(url, "select status, compiled_sql from ops.dbt_node_builds where unique_id = %s",
                              ALERTS_TEST)
    assert status == "pass" and '"open_alerts"' in compiled and "no_such_relation" not in compiled


def test_a_changed_lot_method_rebuilds_the_lot_marts_only(world: World) -> None:
    """…and a view that is gone (dropped with the table under it, when that was built alone from the Dagster UI)
    is built again although nothing it reads changed."""
    url, defs, _ = world
    with psycopg.connect(url) as conn:
        conn.execute("""insert into ops.lot_settings (tenant_id, default_method) values ('acme', 'lifo')
                        on conflict (tenant_id) do update set default_method = 'lifo'""")
        conn.execute("drop view marts.position_history")
    result = _transform(defs)
    built = {uid.removeprefix("model.coinbook.") for uid in _built(url, result.run_id) if uid.startswith("model.")}
    assert {"stg_ops__lot_settings", "disposals", "realized_pnl", "open_lots", "position_history"} <= built, built
    assert _q(url, "select to_regclass('marts.position_history') is not null") == [(True,)]
    kept = _kept_models(result)
    assert {"stg_binance__trades", "int_ledger", "ledger", "prices_daily", "reconciliation"} <= kept, kept
    assert not built & kept


API_TRADES = [f"raw.{venue}_trades" for venue in SEED_VENUES]


def test_a_day_of_new_activity_is_booked_incrementally_to_what_a_full_refresh_books(
        world: World) -> None:
    url, defs, sandbox = world

    def nightly() -> PipelineOutcome:
        with dg.DagsterInstance.ephemeral() as instance:
            outcome = run_pipeline(defs, instance, Warehouse(url), SEED_VENUES)
        assert outcome.success, [f for r in outcome.runs for f in r.failures + r.failed_checks]
        return outcome

    # a first day: this copy's database name is part of every definition (dbt's compiled SQL names it), so the
    # ledger's first build in the copy is whole, as after any change of its definition
    sandbox.world.advance_day(1)
    nightly()
    [(entries_before, booked_before)] = _q(url, "select count(*), max(loaded_through) from intermediate.int_ledger")
    added = sandbox.world.advance_day(2)
    sandbox.world.move_between_wallets(KRAKEN, COIN, Decimal("0.01"), "earn", "out")
    sandbox.world.pay_reward(KRAKEN, COIN, Decimal("0.0000311"), "spot")
    outcome = nightly()
    assert outcome.inserted > 0
    # the API trades booked by this run are exactly the day's new ones; the history's keep their older build
    [(latest,)] = _q(url, "select max(loaded_through) from intermediate.int_ledger")
    assert latest > booked_before
    rows = _q(url, """select loaded_through = %s, count(distinct source_key) from intermediate.int_ledger
                      where raw_table = any(%s) group by 1 order by 1""", latest, API_TRADES)
    registered = {a for (a,) in _q(url, "select account_id from ops.accounts")}
    new_trades = sum(n for account, n in added.items() if account in registered)  # the world trades everywhere
    assert dict(rows)[True] == new_trades, (rows, added)
    assert dict(rows)[False] > 100 * new_trades  # the history, not booked again
    [(entries_after,)] = _q(url, "select count(*) from marts.ledger")
    assert entries_after > entries_before
    # the Kraken move and reward are in the ledger (the account's non-trade records were booked again)
    assert _q(url, """select count(*) from marts.ledger where account_id = %s and loaded_through = %s
                      and entry_type in ('wallet_out', 'income')""", KRAKEN, latest)[0][0] >= 2
    # the lot events valued again: the new trades', the touched accounts' other records', and those a changed
    # daily close reaches (the day's: the market data brought its close), not the history's
    [(valued_now, events)] = _q(url, """select count(*) filter (where priced_at = (select max(priced_at)
                                                        from intermediate.int_lot_events)), count(*)
                                      from intermediate.int_lot_events""")
    assert 0 < valued_now < events / 10, (valued_now, events)
    incremental = _marts(url)
    result = _transform(defs, {FULL_REFRESH_TAG: "true"})
    assert not _kept_models(result)
    assert _marts(url) == incremental


def test_a_full_refresh_builds_everything_to_the_same_marts(world: World) -> None:
    """…also from an older warehouse, whose int_ledger was a view until 2026-12-06: an incremental model built whole
    is dropped first (`StepPlan.drop_whole`), as a view when it is one, with the views over it (built again)."""
    url, defs, _ = world
    reused = _marts(url)
    models = {uid for (uid,) in _q(url, "select unique_id from ops.dbt_node_builds")}
    models = {uid for uid in models if uid.startswith("model.")}
    with psycopg.connect(url) as conn:  # the old warehouse: int_ledger a view (here, over a copy of its rows)
        conn.execute("create table intermediate.int_ledger_before as select * from intermediate.int_ledger")
        conn.execute("drop table intermediate.int_ledger cascade")
        conn.execute("create view intermediate.int_ledger as select * from intermediate.int_ledger_before")
    try:
        result = _transform(defs, {FULL_REFRESH_TAG: "true"})
        assert not _kept_models(result)
        assert models <= _built(url, result.run_id)
        assert _q(url, "select relkind from pg_class where oid = 'intermediate.int_ledger'::regclass") == [("r",)]
        assert _marts(url) == reused
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("drop table intermediate.int_ledger_before cascade")
