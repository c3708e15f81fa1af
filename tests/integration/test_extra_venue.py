"""A ccxt exchange beyond the five seed venues, by configuration (COINBOOK_VENUES): raw tables, quality suites,
dbt staging and unions, and the Dagster assets all appear for it. No sandbox dialect exists for it (live mode
only), so this checks the scaffolding against the real PostgreSQL and real dbt, not a sync."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from expectations.suites import suite_for
from pipelines.services.dbt import build_dbt_manifest
from pipelines.services.venues import all_venues, check_venue, ensure_raw_tables, write_staging_models
from pipelines.sources.exchanges.client import make_exchange

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]


def test_only_ccxt_ids_are_accepted() -> None:
    assert all_venues(None) == ("binance", "coinbase", "kraken", "bitfinex", "htx")
    assert all_venues(["binance", "okx", "binance"]) == ("binance", "okx")
    for bad in ("notavenue", "OKX", "okx; drop table x"):
        with pytest.raises(ValueError, match="ccxt exchange id"):
            check_venue(bad)


def test_an_extra_venue_gets_tables_suites_staging_and_assets(cluster: Any, tmp_path: Path) -> None:

    venues = all_venues(["binance", "kraken", "okx"])
    name = f"coinbook_venue_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    try:
        cluster.migrate(name)
        assert sorted(ensure_raw_tables(url, venues)) == sorted(f"raw.okx_{e}" for e in
                                                               ("balances", "trades", "transfers", "tickers", "ohlcv"))
        assert ensure_raw_tables(url, venues) == []  # idempotent
        import psycopg

        with psycopg.connect(url) as conn:
            columns = {t: conn.execute("select column_name, data_type from information_schema.columns "
                                       "where table_schema = 'raw' and table_name = %s order by ordinal_position",
                                       (t,)).fetchall() for t in ("okx_trades", "binance_trades")}
        assert columns["okx_trades"] == columns["binance_trades"]

        assert suite_for("raw.okx_trades").raw_table == "raw.okx_trades"
        assert suite_for("raw.okx_trades").row_rules == suite_for("raw.binance_trades").row_rules

        project = tmp_path / "dbt_project"
        shutil.copytree(PROJECT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
        written = write_staging_models(project, venues)
        assert {p.name for p in written} >= {"stg_okx__trades.sql", "_okx__sources.yml"}
        assert write_staging_models(project, venues) == []  # unchanged files are left alone
        manifest = json.loads(build_dbt_manifest(project, url, venues).read_text())
        union = manifest["nodes"]["model.coinbook.int_exchange_trades"]["depends_on"]["nodes"]
        assert "model.coinbook.stg_okx__trades" in union and "model.coinbook.stg_binance__trades" in union
        assert "model.coinbook.stg_coinbase__trades" not in union  # the configured venues, not all seed ones

        from tests.support import definitions_for

        defs = definitions_for(url, None, venues=list(venues), dbt_project_dir=project)
        graph = defs.get_repository_def().asset_graph
        keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
        assert {"raw_okx_balances", "raw_okx_trades", "raw_okx_transfers"} <= keys
        assert "raw_okx_trades:great_expectations_gate" in {k.to_user_string() for k in graph.asset_check_keys}
        assert defs.get_schedule_def("okx_nightly_sync").job_name == "okx_account_sync"

        live = make_exchange("okx")  # the same factory, pointed at the real venue (nothing is called here)
        assert live.id == "okx" and "127.0.0.1" not in json.dumps(live.urls["api"])
    finally:
        cluster.drop_database(name)
