"""dbt models as Dagster assets (dagster-dbt): staging → intermediate → marts, dbt tests as asset checks.

dbt sources carry `meta.dagster.asset_key` = the raw ingestion assets, so the graph is one piece from the
venue's API to the marts.
"""


import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from pipelines.bootstrap import dbt_env
from pipelines.dbt_project import coinbook_dbt
from pipelines.resources.warehouse import WarehouseResource
from pipelines.settings import get_settings
from pipelines.venue_scaffold import all_venues, dbt_vars

# dagster-dbt writes each invocation's artifacts to target/<op>-<run>-<uuid>/ (~4 MB); a nightly run makes three
# and a 5-minute fast tier 288 a day, so old ones are removed. Recent ones stay for debugging and for runs
# still going (a directory is only removed once it is a day old).
KEEP_DBT_TARGETS = 30
DBT_TARGET_MIN_AGE_S = 24 * 3600
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
    # in several steps (three in the nightly job). 'buildable' runs a test only in the step where all its
    # parents are built or upstream — with dbt's default ('eager') a singular test over int_ledger and
    # positions ran before positions existed.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    yield from dbt.cli(["build", "--vars", dbt_vars(all_venues(get_settings().venues))], context=context).stream()
    prune_dbt_targets(coinbook_dbt.project_dir / "target", prefix="coinbook_dbt_models")


def prune_dbt_targets(target: Path, *, prefix: str, keep: int = KEEP_DBT_TARGETS,
                      min_age_s: float = DBT_TARGET_MIN_AGE_S, now: float | None = None) -> list[Path]:
    """Remove the per-invocation artifact directories beyond the `keep` newest that are older than `min_age_s`."""
    now = time.time() if now is None else now
    runs = sorted((p for p in target.glob(f"{prefix}*") if p.is_dir()), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    removed = [p for p in runs[keep:] if now - p.stat().st_mtime > min_age_s]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
