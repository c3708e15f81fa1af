"""dbt's unit tests (given rows → expected rows, in each model folder's YAML: every ledger treatment, every
lot-event rule, reference prices, reconciliation), run by real dbt against the real PostgreSQL. The pipeline's
runs leave them out (they check SQL, which a run does not change); here they run once per suite, on a build of the
project over empty raw tables in a database of their own (dbt reads the input models' column types from it;
`dbt build --empty` cannot be used: it wraps a source in a subquery its alias then breaks)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
from pipelines.services.venues import SEED_VENUES, dbt_vars

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


@pytest.fixture(scope="module")
def database(cluster: Any) -> Iterator[str]:
    name = f"coinbook_dbt_unit_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    yield url
    cluster.drop_database(name)


def dbt(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)  # the project parsed for this database: no second parse
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "unit")}
    (target / "unit").mkdir(exist_ok=True)
    (target / "unit" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    return subprocess.run([dbt_executable(), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
                           "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=600)


def test_every_dbt_unit_test_passes(database: str) -> None:
    empty = dbt(database, "build", "--exclude-resource-type", "unit_test", "--exclude-resource-type", "test")
    assert empty.returncode == 0, empty.stdout[-4000:]
    run = dbt(database, "test", "--select", "test_type:unit")
    assert run.returncode == 0, run.stdout[-6000:]
    results = json.loads((ensure_parsed(PROJECT, database, SEED_VENUES) / "unit" / "run_results.json").read_text())
    outcomes = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results["results"]}
    assert len(outcomes) >= 25 and set(outcomes.values()) == {"pass"}, outcomes
    for rule in ("ledger_treatment_internal_transfer", "lot_events_internal_transfer",
                 "lot_events_daily_close_reaches_back_seven_days",
                 "reconciliation_flags_only_differences_beyond_tolerance",
                 "position_history_carries_closings_forward_to_today",
                 "tax_year_disposals_take_the_year_in_the_tenants_time_zone",
                 "reconciliation_breaks_age_from_the_same_difference",
                 "quarantine_by_source_counts_per_reason_class", "lot_events_maker_rebate"):
        assert rule in outcomes
