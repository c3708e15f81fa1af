"""A source's `digest_ignores` columns are left out of the digest that decides whether its readers are built again
(services/dbt_reuse.py). That is exact only if no model kept as a table reads them: a view reads them at query
time, a table would keep the old values, unless it says so (`meta.coinbook.reads_digest_ignored`, documented in its
YAML). Checked on the project's manifest (made by `coinbook prepare`)."""

import json
import re
from pathlib import Path

import pytest

from pipelines.services.dbt_reuse import digest_ignores, source_tables

MANIFEST = Path(__file__).resolve().parents[2] / "dbt_project" / "target" / "manifest.json"
STORED = ("table", "incremental")


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not MANIFEST.exists():
        pytest.fail(f"{MANIFEST} is missing: run `coinbook prepare` first (make test does)")
    return json.loads(MANIFEST.read_text())


def test_sources_with_ignored_columns_are_declared(manifest: dict) -> None:
    ignored = {uid: digest_ignores(s) for uid, s in manifest["sources"].items() if digest_ignores(s)}
    assert {"source.coinbook.ops.alerts", "source.coinbook.ops.gate_partitions"} <= set(ignored)


def test_no_stored_model_reads_an_ignored_column(manifest: dict) -> None:
    for uid, source in manifest["sources"].items():
        columns = digest_ignores(source)
        if not columns:
            continue
        for child in manifest["child_map"].get(uid, []):
            node = manifest["nodes"].get(child, {})
            if node.get("resource_type") != "model" or node["config"]["materialized"] not in STORED:
                continue
            code = node["raw_code"]
            # a model may read one knowingly (its YAML documents the value as of its build)
            allowed = ((node["config"].get("meta") or {}).get("coinbook") or {}).get("reads_digest_ignored", [])
            star = rf"select\s+\*\s+from\s+\{{\{{\s*source\(\s*'{source['source_name']}'\s*,\s*'{source['name']}'"
            assert not re.search(star, code, re.IGNORECASE), f"{child} selects * from {uid}"
            for column in set(columns) - set(allowed):
                assert not re.search(rf"\b{column}\b", code), f"{child} reads {uid}.{column}, left out of its digest"


def test_source_tables_walks_up_through_models(manifest: dict) -> None:
    """positions reads raw tables only through staging and intermediate models: they are all in its inputs."""
    above = source_tables(manifest, ["model.coinbook.positions"])
    assert "source.coinbook.binance.binance_trades" in above
    gate = above["source.coinbook.ops.gate_partitions"]
    assert gate.ignore == ("run_id", "checked_at") and "passed_through" in gate.digest_as
