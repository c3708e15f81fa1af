"""The code location as data: every asset (key, group, deps, kinds), every check, every job's selection, every
schedule and sensor. tests/unit/test_code_location.py compares it with the committed code_location.json, so a
change to the graph is a visible diff. After an intended change, write the file again:

    .venv/bin/python -m tests.code_location > tests/unit/code_location.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

import dagster as dg


def snapshot(defs: dg.Definitions) -> dict[str, Any]:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds),
            "partitions": getattr(node.partitions_def, "name", None),
        }
    jobs = {}
    for name in sorted(repo.job_names):
        if name.startswith("__"):  # Dagster's implicit asset job
            continue
        job = repo.get_job(name)
        jobs[name] = {"assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
                      "checks": len(job.asset_layer.asset_graph.asset_check_keys)}
    schedules = {s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name,
                          "default": s.default_status.value} for s in sorted(repo.schedule_defs, key=lambda s: s.name)}
    sensors = {s.name: {"jobs": sorted(t.job_name for t in s.targets), "interval_s": s.minimum_interval_seconds,
                        "default": s.default_status.value} for s in sorted(repo.sensor_defs, key=lambda s: s.name)}
    checks = sorted(k.to_user_string() for k in graph.asset_check_keys)
    return {"assets": assets, "checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def dump(defs: dg.Definitions) -> str:
    return json.dumps(snapshot(defs), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    from pipelines.definitions import build_definitions
    from pipelines.settings import CoinbookSettings

    # The default settings (the five seed venues), whatever the environment says.
    sys.stdout.write(dump(build_definitions(CoinbookSettings(_env_file=None, venues=None))))
