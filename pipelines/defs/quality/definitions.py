"""Quality: a blocking Great Expectations gate on every raw table (quality/checks.py). The tier jobs
(pipelines/defs/schedules) run the gates once per tick, before the models."""

import dagster as dg

from pipelines.defs.quality.checks import build_gate_checks
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(asset_checks=build_gate_checks(settings))
