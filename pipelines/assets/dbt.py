"""dbt models as Dagster assets (dagster-dbt): staging → intermediate → marts, dbt tests as asset checks.

dbt sources carry `meta.dagster.asset_key` = the raw ingestion assets, so the graph is one piece from the
venue's API to the marts.
"""


import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from pipelines.bootstrap import dbt_env
from pipelines.dbt_project import coinbook_dbt
from pipelines.resources.warehouse import WarehouseResource
from pipelines.settings import get_settings
from pipelines.venue_scaffold import all_venues, dbt_vars

# marts/<domain>/ → Dagster group; staging and intermediate models are the 'transform' layer.
MART_GROUPS = {"lots": "lots", "risk": "risk", "trading": "trading", "compliance": "compliance"}


class CoinbookDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") not in ("model", "seed"):
            return spec
        fqn = props.get("fqn", [])
        domain = fqn[2] if len(fqn) > 3 and fqn[1] == "marts" else None
        # Keys are the model names users know from SQL (positions, int_ledger), not schema/name paths.
        return spec.replace_attributes(key=dg.AssetKey(props["name"]),
                                       group_name=MART_GROUPS.get(domain or "", "transform"))


@dbt_assets(
    manifest=coinbook_dbt.manifest_path,
    project=coinbook_dbt,
    dagster_dbt_translator=CoinbookDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def coinbook_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                        warehouse: WarehouseResource) -> Iterator[Any]:
    os.environ.update(dbt_env(warehouse.database_url))  # profiles.yml reads them; dbt inherits os.environ
    # Python assets sit between models (transfer_matches: int_ledger → marts), so Dagster runs the dbt models
    # in two steps. 'buildable' runs a test only in the step where all its parents are built or upstream —
    # with dbt's default ('eager') a singular test over int_ledger and positions ran before positions existed.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    yield from dbt.cli(["build", "--vars", dbt_vars(all_venues(get_settings().venues))], context=context).stream()
