"""The quality gate: one Great Expectations suite per raw table (expectations/), run as a blocking asset check.

Rows failing a row-level expectation are copied to ops.quarantine with the expectation as the reason and kept
out of staging; the check still passes, so the run goes on. A partition (one tenant's account and source) with too
large a share of bad rows is held back: the check fails with severity WARN — which does not block — and raises a
`gate_hold` alert, so every other tenant's models build. Only a table-level failure (Coinbook's own machinery
broken: columns drifted, duplicate keys) fails it with severity ERROR, which, the check being blocking, stops the
dbt models downstream in the same run.
"""

import dataclasses
from datetime import UTC, datetime

import dagster as dg

from pipelines.constants import raw_asset_name, raw_table_of_asset
from pipelines.defs.common import WarehouseResource
from pipelines.defs.imports.assets import raw_file_records
from pipelines.defs.wallets.assets import WALLET_ASSETS
from pipelines.services.alerts import evaluate_gate_holds
from pipelines.services.venues import ENTITIES, all_venues
from pipelines.settings import CoinbookSettings

GATE = "great_expectations_gate"


def gated_assets(settings: CoinbookSettings) -> list[str]:
    """Every raw asset with a gate: each venue's five tables, the wallets', the CSV records. (Price ticks are
    checked by their loader row by row: a whole-table validation of millions of rows a day would not keep up.)"""
    venues = [raw_asset_name(v, e) for v in all_venues(settings.venues) for e in ENTITIES]
    wallets = [key.path[-1] for asset in WALLET_ASSETS.values() for key in asset.keys]
    return [*venues, *wallets, raw_file_records.key.path[-1]]


def gate_keys(settings: CoinbookSettings) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(dg.AssetKey(name), GATE) for name in gated_assets(settings)]


def gate_check(asset_name: str, max_quarantine_ratio: float) -> dg.AssetChecksDefinition:
    raw_table = raw_table_of_asset(asset_name)

    @dg.asset_check(asset=asset_name, name=GATE, blocking=True,
                    description=f"Great Expectations suite for {raw_table}; failing rows go to ops.quarantine.")
    def gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from expectations.gate import run_gate  # GX takes seconds to import: only when a gate runs

        result = run_gate(warehouse.database_url, raw_table, context.run.run_id,
                          max_quarantine_ratio=max_quarantine_ratio)
        (context.log.warning if result.held else context.log.info)(result.describe())
        evaluate_gate_holds(warehouse.get(), datetime.now(UTC))  # raise the holds' alerts, resolve lifted ones
        summary = dataclasses.asdict(result)
        return dg.AssetCheckResult(
            passed=result.passed,
            # a held partition holds back only its own account (staging leaves its newer rows out): WARN, so
            # the blocking check lets every other tenant's models build; a table-level failure blocks them all
            severity=dg.AssetCheckSeverity.ERROR if result.blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_checked": dg.MetadataValue.int(result.rows_checked),
                # an unchanged table keeps its last passing verdict (ops.gate_verdicts) without a new validation
                "verdict_of_run": dg.MetadataValue.text(result.reused_from_run or context.run.run_id),
                "quarantined_new": dg.MetadataValue.int(result.quarantined_new),
                "quarantined_total": dg.MetadataValue.int(result.quarantined_total),
                "table_level_failures": dg.MetadataValue.json(summary.get("table_level_failures", [])),
                "expectations": dg.MetadataValue.json(summary.get("expectations", [])),
                "held_back": dg.MetadataValue.json(summary.get("held", [])),
            },
        )

    return gate


def build_gate_checks(settings: CoinbookSettings) -> list[dg.AssetChecksDefinition]:
    return [gate_check(name, settings.max_quarantine_ratio) for name in gated_assets(settings)]
