"""Models: the dbt project (staging, intermediate, marts) as one multi-asset (models/assets.py). What runs when
is the tier jobs' business (pipelines/defs/schedules)."""

import dagster as dg

from pipelines.defs.models.assets import dbt_models
from pipelines.services.venues import all_venues
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=[dbt_models(settings.dbt_project_dir, all_venues(settings.venues))])
