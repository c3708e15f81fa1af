"""The code location as a committed snapshot (code_location.json beside this file): every asset key, group,
deps, check, job selection, schedule and sensor. A change to the graph shows as a diff here; after an intended
change, write the file again (`.venv/bin/python -m tests.code_location > tests/unit/code_location.json`) and
commit it with the change. Also: the schedules the README documents are the schedules defined."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.definitions import build_definitions
from pipelines.defs.schedules.tiers import PLAIN_SCHEDULES, TIERS
from pipelines.settings import CoinbookSettings
from tests.code_location import snapshot

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def current() -> dict:
    return json.loads(json.dumps(snapshot(build_definitions(CoinbookSettings(_env_file=None, venues=None)))))


def test_the_code_location_is_the_committed_snapshot(current: dict) -> None:
    committed = json.loads((HERE / "code_location.json").read_text())
    for section in ("assets", "checks", "jobs", "schedules", "sensors"):
        assert current[section] == committed[section], (
            f"the code location's {section} changed: if intended, regenerate tests/unit/code_location.json "
            "(python -m tests.code_location) and commit it")


def test_every_raw_table_but_the_ticks_is_gated_and_every_model_has_a_group(current: dict) -> None:
    gated = {c.split(":")[0] for c in current["checks"] if c.endswith(":great_expectations_gate")}
    raw = {name for name, a in current["assets"].items() if name.startswith("raw_")}
    assert raw - gated == {"raw_price_ticks"}  # its loader applies the suite's rules row by row
    assert all(a["group"] != "default" for name, a in current["assets"].items() if "/" not in name)


def test_the_readme_lists_the_schedules_that_are_defined(current: dict) -> None:
    """The README's schedule table is generated from the tier table in spirit: each row's name, cron and job
    must match what Dagster has, and every tier and plain schedule must be in it."""
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \|", readme, flags=re.M)
    documented = {name: (cron, job) for name, cron, job in rows}
    expected = {f"<venue>_{t.name}_sync": (t.cron, t.sync_job.format(source="<venue>")) for t in TIERS}
    expected |= {s.name: (s.cron, s.job) for s in PLAIN_SCHEDULES}
    assert documented == expected
    for tier in TIERS:
        assert current["schedules"][f"binance_{tier.name}_sync"]["cron"] == tier.cron
    for plain in PLAIN_SCHEDULES:
        assert current["schedules"][plain.name] == {"cron": plain.cron, "timezone": "UTC", "job": plain.job,
                                                    "default": "STOPPED"}
