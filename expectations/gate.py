"""The quality gate: validate a raw table with its Great Expectations suite, quarantine the failing rows.

    result = run_gate(database_url, "raw.binance_trades", run_id)

Every row that fails a row-level expectation is copied to ops.quarantine (key, payload, record hash, the
expectation as check_name and a human reason); staging excludes quarantined rows, so they never reach a
model, and the run goes on. The gate fails (`passed` False) only on a table-level failure or when the share
of quarantined rows exceeds `max_quarantine_ratio`: then something systematic is wrong with the source.
Re-running quarantines nothing new (ops.quarantine is unique per row and check).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from expectations.suites import KEY_COLUMNS, Rule, Suite, suite_for


@dataclass(frozen=True)
class ExpectationOutcome:
    check_name: str
    level: str  # 'row' | 'table'
    success: bool
    unexpected_count: int


@dataclass(frozen=True)
class GateResult:
    raw_table: str
    rows_checked: int
    expectations: list[ExpectationOutcome]
    quarantined_new: int
    quarantined_total: int
    table_level_failures: list[str]
    max_quarantine_ratio: float
    passed: bool
    failed_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (f"gate {verdict} for {self.raw_table}: {self.rows_checked} rows checked, "
                f"{self.quarantined_new} newly quarantined ({self.quarantined_total} in quarantine)")
        if self.table_level_failures:
            text += "; table-level failures: " + "; ".join(self.table_level_failures)
        return text + "".join(f"; {n}" for n in self.notes)


def sqlalchemy_url(database_url: str, schema: str) -> str:
    """GX goes through SQLAlchemy: name the psycopg2 driver and put the schema on the search path."""
    parts = urlsplit(database_url)
    scheme = "postgresql+psycopg2"
    query = "&".join(q for q in (parts.query, f"options=-csearch_path%3D{schema}") if q)
    return urlunsplit((scheme, parts.netloc, parts.path, query, parts.fragment))


def _camel(snake: str) -> str:
    return "".join(word.capitalize() for word in snake.split("_"))


def _expectation(rule: Rule, index: int, now: datetime) -> Any:
    import great_expectations.expectations as gxe

    kwargs = dict(rule.kwargs)
    if rule.expectation == "expect_column_values_to_be_between" and isinstance(kwargs.get("min_value"), str):
        kwargs["max_value"] = (now + timedelta(days=1)).isoformat()  # timestamps: not in the future
    return getattr(gxe, _camel(rule.expectation))(**kwargs, meta={"rule": index})


def _display(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return repr(value) if isinstance(value, str) else str(value)


def _validate(database_url: str, suite: Suite) -> tuple[list[tuple[Rule, Any]], int]:
    """Run the suite in one GX validation; returns (rule, GX result) pairs and the row count."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    schema, table = suite.raw_table.split(".")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres("warehouse", connection_string=sqlalchemy_url(database_url, schema))
    batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table("all").get_batch()
    rules = [*suite.row_rules, *suite.table_rules]
    gx_suite = gx.ExpectationSuite(name=suite.name)
    now = datetime.now(UTC)
    for index, rule in enumerate(rules):
        gx_suite.add_expectation(_expectation(rule, index, now))
    validation = batch.validate(gx_suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": list(KEY_COLUMNS)})
    pairs = [(rules[int(r.expectation_config.meta["rule"])], r) for r in validation.results]
    rows = max((int(r.result.get("element_count") or 0) for _, r in pairs), default=0)
    return pairs, rows


def run_gate(database_url: str, raw_table: str, run_id: str | None, *,
             max_quarantine_ratio: float = 0.05) -> GateResult:
    suite = suite_for(raw_table)
    pairs, rows_checked = _validate(database_url, suite)
    row_rules = {id(rule) for rule in suite.row_rules}
    outcomes: list[ExpectationOutcome] = []
    table_failures: list[str] = []
    notes: list[str] = []
    quarantine: list[tuple[str, str, str, str, str, str]] = []
    for rule, result in pairs:
        level = "row" if id(rule) in row_rules else "table"
        details = result.result or {}
        if result.exception_info and result.exception_info.get("raised_exception"):
            message = str(result.exception_info.get("exception_message"))[:300]
            table_failures.append(f"{rule.check_name}: could not be evaluated ({message})")
            outcomes.append(ExpectationOutcome(rule.check_name, level, False, 0))
            continue
        count = int(details.get("unexpected_count") or 0)
        outcomes.append(ExpectationOutcome(rule.check_name, level, bool(result.success), count))
        if result.success:
            continue
        if level == "table":
            table_failures.append(f"{rule.check_name}: {rule.reason}")
            continue
        failing = details.get("unexpected_index_list") or []
        if count and not failing:
            table_failures.append(f"{rule.check_name}: {count} rows failed but could not be identified")
        for row in failing:
            value = row.get(rule.column) if rule.column else None
            reason = rule.reason.format(value=_display(value)) if rule.reason else rule.check_name
            quarantine.append((str(row["tenant_id"]), str(row["account_id"]), str(row["source"]),
                               str(row["source_record_id"]), rule.check_name, reason))
    new, total_rows = _quarantine(database_url, raw_table, quarantine, run_id)
    ratio = total_rows / rows_checked if rows_checked else 0.0
    if ratio > max_quarantine_ratio:
        notes.append(f"{total_rows} of {rows_checked} rows quarantined ({ratio:.1%}) exceeds the limit "
                     f"of {max_quarantine_ratio:.1%}: the source looks systematically broken")
    passed = not table_failures and ratio <= max_quarantine_ratio
    return GateResult(raw_table, rows_checked, outcomes, new, total_rows, table_failures, max_quarantine_ratio,
                      passed, len({q[:4] for q in quarantine}), notes)


def _quarantine(database_url: str, raw_table: str, rows: list[tuple[str, str, str, str, str, str]],
                run_id: str | None) -> tuple[int, int]:
    """Copy failing rows (with payload and hash from the raw table) to ops.quarantine. Returns (rows newly
    quarantined, distinct raw rows now in quarantine for this table)."""
    schema, table = raw_table.split(".")
    with psycopg.connect(database_url) as conn:
        inserted = 0
        if rows:
            conn.execute("""create temp table _failing (tenant_id text, account_id text, source text,
                            source_record_id text, check_name text, reason text) on commit drop""")
            with conn.cursor().copy("copy _failing from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor = conn.execute(psycopg.sql.SQL("""
                insert into ops.quarantine (tenant_id, account_id, source, raw_table, source_record_id,
                                            record_hash, payload, check_name, reason, run_id)
                select f.tenant_id, f.account_id, f.source, {raw_table}, f.source_record_id,
                       r.record_hash, r.payload, f.check_name, f.reason, {run_id}
                from _failing f
                join {table} r on r.tenant_id = f.tenant_id and r.account_id = f.account_id
                              and r.source = f.source and r.source_record_id = f.source_record_id
                on conflict do nothing""").format(
                raw_table=psycopg.sql.Literal(raw_table), run_id=psycopg.sql.Literal(run_id),
                table=psycopg.sql.Identifier(schema, table)))
            inserted = cursor.rowcount
        total = conn.execute("""select count(*) from (select distinct tenant_id, account_id, source, source_record_id
                                from ops.quarantine where raw_table = %s) q""", (raw_table,)).fetchone()
    return inserted, int(total[0]) if total else 0
