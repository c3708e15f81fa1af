"""Old per-invocation dbt artifact directories are removed; recent ones and the newest few stay."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.services.dbt import prune_dbt_targets

DAY = 24 * 3600.0


def test_prunes_only_old_invocations_beyond_the_newest(tmp_path: Path) -> None:
    now = 1_000_000_000.0
    ages_h = [1, 2, 30, 40, 50, 60]  # hours old, newest first
    for index, age in enumerate(ages_h):
        run = tmp_path / f"coinbook_dbt_models-run{index}-abc"
        run.mkdir()
        (run / "manifest.json").write_text("{}")
        os.utime(run, (now - age * 3600, now - age * 3600))
    (tmp_path / "manifest.json").write_text("{}")  # the project's own artifacts are not touched
    (tmp_path / "other-run0").mkdir()

    removed = prune_dbt_targets(tmp_path, prefix="coinbook_dbt_models", keep=3, min_age_s=DAY, now=now)

    assert sorted(p.name for p in removed) == ["coinbook_dbt_models-run3-abc", "coinbook_dbt_models-run4-abc",
                                               "coinbook_dbt_models-run5-abc"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["coinbook_dbt_models-run0-abc", "coinbook_dbt_models-run1-abc", "coinbook_dbt_models-run2-abc",
                    "manifest.json", "other-run0"]
    # kept: beyond the newest 3 but younger than a day
    assert prune_dbt_targets(tmp_path, prefix="coinbook_dbt_models", keep=1, min_age_s=DAY, now=now) == [
        tmp_path / "coinbook_dbt_models-run2-abc"]
