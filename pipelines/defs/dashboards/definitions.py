"""Dashboards: each Superset dashboard (pipelines/domain/dashboards.py) as an external asset downstream of the
marts its charts read, so lineage runs from the exchange to the chart. Superset itself serves them
(`coinbook dashboards up`); nothing is materialised here."""

import dagster as dg

from pipelines.domain.dashboards import DASHBOARDS, datasets_of
from pipelines.settings import CoinbookSettings


def dashboard_specs() -> list[dg.AssetSpec]:
    return [dg.AssetSpec(key=f"dashboard_{dashboard.slug}", deps=datasets_of(dashboard), group_name="dashboards",
                         kinds={"superset"}, description=f"Superset dashboard “{dashboard.title}” "
                         f"(/superset/dashboard/{dashboard.slug}/)")
            for dashboard in DASHBOARDS]


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    return dg.Definitions(assets=dashboard_specs())
