"""A transform keeps the dbt models whose inputs did not change (issue 17 §2; services/dbt_reuse.py), and what it
keeps is what a full refresh builds.

On a copy of the acme_main_earn world (one nightly run, shared with test_earn, test_rebalancing, test_execution):
(1) a transform with nothing new builds no model but the arbitrage view (each transform scans the venues' books
afresh) and reports every other model as kept, with its tests' results; (2) a changed lot method rebuilds the lot
marts and what reads them, and nothing that does not (staging, prices, the ledger), and a dropped view is built
again; (3) a full refresh
(`coinbook run --full-refresh`: keep nothing) then gives every mart the same content, row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from pipelines.services.dbt_reuse import FULL_REFRESH_TAG
from tests.integration.test_earn import WORLD
from tests.support import definitions_for, synced_world

pytestmark = pytest.mark.integration

TRANSFORM = "nightly_reconciliation"
# marts whose content is not a function of the synced data alone: built at (data_status.built_at) or appended per
# build (reconciliation_break_history), or fed by what every transform does anew: a scan of the venues' books
# (arbitrage_opportunities), the alerts it raises and resolves (open_alerts: a source goes stale as the session
# ages)
CLOCK_COLUMNS = {"data_status": ["built_at"], "quarantine_by_source": ["gate_checked_at"]}  # as of the build
NOT_COMPARED = {"reconciliation_break_history", "arbitrage_opportunities", "open_alerts"}
# what a transform with nothing new may build: those two views (and their tests)
ALWAYS_NEW = {"model.coinbook.arbitrage_opportunities", "model.coinbook.open_alerts"}


@pytest.fixture(scope="module")
def world(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dg.Definitions]]:
    tmp = tmp_path_factory.mktemp("model_reuse")
    with synced_world(cluster, WORLD, tmp) as synced:
        yield synced.url, definitions_for(synced.url, synced.sandbox.url)


def _q(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _transform(defs: dg.Definitions, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(TRANSFORM).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                                 raise_on_error=False, tags=tags or {})
    assert result.success, [str(e.event_specific_data)[:300] for e in result.all_events if e.is_failure]
    return result


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


def test_nothing_new_builds_nothing_and_reports_every_model_kept(world: tuple[str, dg.Definitions]) -> None:
    url, defs = world
    before = _marts(url)
    result = _transform(defs)
    built = _built(url, result.run_id)
    assert {uid for uid in built if uid.startswith("model.")} <= ALWAYS_NEW, built
    assert all(uid.startswith("test.") and any(m.removeprefix("model.coinbook.") in uid for m in ALWAYS_NEW)
               for uid in built - ALWAYS_NEW), built
    kept = _kept_models(result)
    assert {"positions", "int_ledger", "disposals", "reconciliation", "portfolio_var", "stg_binance__trades"} <= kept
    # the kept models' tests gate the steps after them as before: each reported, with its last result
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    kept_checks = [c for c in checks if "kept" in c.metadata]
    assert len(kept_checks) > 100 and all(c.passed for c in kept_checks)
    assert _marts(url) == before


def test_a_changed_lot_method_rebuilds_the_lot_marts_only(world: tuple[str, dg.Definitions]) -> None:
    """…and a view that is gone (dropped with the table under it, when that was built alone from the Dagster UI)
    is built again although nothing it reads changed."""
    url, defs = world
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


def test_a_full_refresh_builds_everything_to_the_same_marts(world: tuple[str, dg.Definitions]) -> None:
    url, defs = world
    reused = _marts(url)
    models = {uid for (uid,) in _q(url, "select unique_id from ops.dbt_node_builds")}
    models = {uid for uid in models if uid.startswith("model.")}
    result = _transform(defs, {FULL_REFRESH_TAG: "true"})
    assert not _kept_models(result)
    assert models <= _built(url, result.run_id)
    assert _marts(url) == reused
