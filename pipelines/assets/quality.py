"""The quality gate: one Great Expectations suite per raw table, run as a blocking asset check.

Rows failing a row-level expectation are copied to ops.quarantine with the expectation as the reason and
kept out of staging; the check still passes, so the run goes on. It fails (and, being blocking, stops the
dbt models downstream in the same run) only on a table-level failure or when too large a share of the
rows is bad, which means something systematic is wrong with the source.
"""


import dataclasses

import dagster as dg

from pipelines.resources.warehouse import WarehouseResource
from pipelines.settings import get_settings


def build_gate_check(asset: dg.AssetsDefinition | dg.AssetKey, raw_table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="great_expectations_gate",
        blocking=True,
        description=f"Great Expectations suite for {raw_table}; failing rows go to ops.quarantine.",
    )
    def gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from expectations.gate import run_gate  # GX takes seconds to import: only when a gate runs

        result = run_gate(warehouse.database_url, raw_table, context.run.run_id,
                          max_quarantine_ratio=get_settings().max_quarantine_ratio)
        context.log.info(result.describe())
        summary = dataclasses.asdict(result)
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_checked": dg.MetadataValue.int(result.rows_checked),
                # an unchanged table keeps its last passing verdict (ops.gate_verdicts) without a new validation
                "verdict_of_run": dg.MetadataValue.text(result.reused_from_run or context.run.run_id),
                "quarantined_new": dg.MetadataValue.int(result.quarantined_new),
                "quarantined_total": dg.MetadataValue.int(result.quarantined_total),
                "table_level_failures": dg.MetadataValue.json(summary.get("table_level_failures", [])),
                "expectations": dg.MetadataValue.json(summary.get("expectations", [])),
            },
        )

    return gate
