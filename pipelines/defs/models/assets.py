"""The dbt models as Dagster assets (dagster-dbt): staging → intermediate → marts, dbt tests as asset checks.

Keys are the model names users know from SQL (positions, int_ledger). Groups come from the dbt folders, by one
rule and no table: a model under intermediate/<concern>/ or marts/<domain>/ belongs to that folder's group
(exchanges, ledger, prices, positions, reconciliation, lots, risk); the Python assets between the models use the
group of the folder they serve (transfer_matches: ledger, tax_lots: lots, portfolio_risk: risk); staging models
and seeds are 'staging', the schema dbt_project.yml gives them. (Ingestion assets are 'ingest'; the ops.*
tables dbt reads as sources are Dagster's 'default'.) dbt sources carry `meta.dagster.asset_key` = the raw
ingestion assets, so the graph is one piece from the venue's API to the marts.
"""

import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from pipelines.defs.common import WarehouseResource
from pipelines.services.dbt import dbt_env, ensure_parsed, prune_dbt_targets
from pipelines.services.dbt_reuse import plan_step, record_step, record_without_dbt
from pipelines.services.venues import dbt_vars

FOLDER_GROUPED_LAYERS = ("intermediate", "marts")
DBT_OP = "coinbook_dbt_models"


def group_of(resource_type: str, fqn: list[str]) -> str:
    """['coinbook', 'marts', 'risk', 'asset_returns'] → 'risk'; staging models and seeds → 'staging'."""
    if resource_type == "model" and len(fqn) > 3 and fqn[1] in FOLDER_GROUPED_LAYERS:
        return fqn[2]
    return "staging"


class CoinbookDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") not in ("model", "seed"):
            return spec
        return spec.replace_attributes(key=dg.AssetKey(props["name"]),
                                       group_name=group_of(props["resource_type"], props.get("fqn", [])))


@cache
def dbt_models(project_dir: Path, venues: tuple[str, ...]) -> dg.AssetsDefinition:
    """The project's models as one multi-asset (built once per project and venues: the manifest must exist,
    see services/dbt.build_dbt_manifest)."""
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)

    @dbt_assets(manifest=project.manifest_path, project=project, name=DBT_OP,
                dagster_dbt_translator=CoinbookDbtTranslator(
                    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)))
    def coinbook_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                            warehouse: WarehouseResource) -> Iterator[Any]:
        os.environ.update(dbt_env(warehouse.database_url))  # profiles.yml reads them; dbt inherits os.environ
        # dagster-dbt copies the partial-parse state from DBT_TARGET_PATH into the invocation's target: the one
        # made for this database, so that dbt does not parse the whole project again in every step
        parsed = ensure_parsed(project_dir, warehouse.database_url, venues)
        os.environ["DBT_TARGET_PATH"] = str(parsed)  # dagster-dbt makes each invocation's target under it
        # Python assets sit between models (transfer_matches: int_ledger → marts), so Dagster runs the dbt models
        # in several steps (three in the nightly job). 'buildable' runs a test only in the step where all its
        # parents are built or upstream — with dbt's default ('eager') a singular test over int_ledger and
        # positions ran before positions existed.
        os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
        # dbt's unit tests check the SQL, which a run does not change: the test suite runs them
        # (tests/integration/test_dbt_unit_tests.py), not every run of every tier (~13 s a nightly run)
        # a model whose inputs are what they were at its last build is kept, not built again (services/dbt_reuse)
        plan = plan_step(context, project_dir, dbt_vars(venues), warehouse.get())
        context.log.info(f"dbt: {len(plan.to_build)} of {len(plan.selected)} models and tests to build or run, "
                         f"{len(plan.kept)} kept (inputs unchanged){plan.describe_to_build()}")
        yield from plan.kept_events(context)
        runs = plan.run_tests(warehouse.get()) if plan.without_dbt else None
        if runs is not None:  # views whose data changed, their definition not: their tests, without dbt
            context.log.info(f"dbt not started: {len(runs)} tests run as their compiled SQL, "
                             f"{len(plan.to_build) - len(runs)} views not created again (definition unchanged)")
            yield from plan.events_without_dbt(context, runs)
            record_without_dbt(plan, runs, warehouse.get())
            failed = sorted(uid for uid, run in runs.items() if run.status == "fail")
            if failed:  # as a failed dbt build fails the step
                raise dg.Failure(f"{len(failed)} dbt tests failed: {', '.join(failed)}")
        elif plan.to_build:
            if plan.whole:
                context.log.info(f"built whole: {', '.join(sorted(u.split('.')[-1] for u in plan.whole))}")
            plan.drop_whole(warehouse.get())
            invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test", "--vars", dbt_vars(venues),
                                  *plan.exclude_args()], context=context)
            try:
                yield from invocation.stream()  # raises at its end if dbt failed
            finally:  # what was built is recorded, what failed forgotten, either way
                record_step(plan, _run_results(invocation), warehouse.get())
                prune_dbt_targets(parsed, prefix=DBT_OP)

    return coinbook_dbt_models


def _run_results(invocation: Any) -> dict[str, Any] | None:
    try:
        return invocation.get_artifact("run_results.json")
    except FileNotFoundError:  # dbt stopped before writing them
        return None
