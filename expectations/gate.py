"""The quality gate: validate a raw table with its Great Expectations suite, quarantine the failing rows.

    result = run_gate(database_url, "raw.binance_trades", run_id)

Every row that fails a row-level expectation is copied to ops.quarantine (key, payload, record hash, the
expectation as check_name and a human reason); staging excludes quarantined rows, so they never reach a
model, and the run goes on. Re-running quarantines nothing new (ops.quarantine is unique per row and check).

Two kinds of failure, judged apart:
- a table-level failure (the columns drifted from the suite, a duplicate key, a record hash that is not one)
  is Coinbook's own machinery broken: the gate BLOCKS (`blocking`), and no model builds downstream;
- too large a share of quarantined rows is a source gone bad, judged per partition — one tenant's account
  and source (`max_quarantine_ratio`, and at least `min_held_rows` bad rows, so one odd record in a small
  account is quarantined, not a reason to stop it). Such a partition is HELD (ops.gate_partitions): its
  account's rows ingested after it last passed stay out of staging, with an alert, while every other
  tenant's and account's data goes on to the marts. The hold lifts when the partition passes again.
Lines a CSV importer rejected never reached the raw table; they are in ops.quarantine, but not the gate's.

When a table's content (a digest of every row, every column: an UPDATE or DELETE of one old row changes it), its
columns, the suite and the limits are all as they were when it last passed, the last verdict (ops.gate_verdicts)
stands and GX is not run again. (Keyed on the row count and newest `ingested_at` before: an in-place UPDATE of a
historical trade — price 0 — went straight into staging.)

All expectations of a table run in ONE GX validation (GX's fixed cost per run is ~0.2 s; per expectation it
is one SQL query). Measured on 2 cores: 2,000 trades ≈ 0.3 s, 100,000 trades ≈ 2.4 s (import of GX, ≈ 3-6 s
once per process, not included). `great_expectations` is imported inside the functions that need it, so
importing this module (or the Dagster definitions) stays cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from expectations.suites import KEY_COLUMNS, Rule, Suite, reason_for, suite_for
from pipelines.constants import PUBLIC_TENANT
from warehouse.digest import table_digest, table_shapes
from warehouse.quality import (
    advance_passed_through,
    quarantine_failing_rows,
    record_gate_verdict,
    record_partition_verdicts,
)

# GX caps the failing rows it returns for SQL at `partial_unexpected_count` (20 by default, even with
# result_format COMPLETE): ask for all of them, every failing row must be quarantined.
ALL_ROWS = 1_000_000_000
QuarantineRow = tuple[str, str, str, str, str, str]  # tenant, account, source, source_record_id, check, reason
MIN_HELD_ROWS = 3  # fewer bad rows than this never hold a partition: the rows are quarantined, that is enough


@dataclass(frozen=True)
class ExpectationOutcome:
    check_name: str  # e.g. 'expect_column_values_to_be_between(quantity)'
    level: str  # 'row' | 'table'
    success: bool
    unexpected_count: int


@dataclass(frozen=True)
class PartitionVerdict:
    """One tenant's account and source in a raw table: its rows, how many the gate quarantined, and whether
    that share holds the account's newer data back."""

    tenant_id: str
    account_id: str
    source: str
    rows: int
    quarantined: int
    held: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class GateResult:
    raw_table: str
    rows_checked: int
    expectations: list[ExpectationOutcome]
    quarantined_new: int  # rows x checks added to ops.quarantine by this run
    quarantined_total: int  # distinct raw rows of this table now in quarantine
    table_level_failures: list[str]
    max_quarantine_ratio: float
    passed: bool
    failed_rows: int = 0  # distinct raw rows failing a row-level expectation in this run
    notes: list[str] = field(default_factory=list)
    reused_from_run: str | None = None  # the table was unchanged since this run's passing verdict
    held: list[PartitionVerdict] = field(default_factory=list)  # partitions held back by this verdict

    @property
    def blocking(self) -> bool:
        """A table-level failure: nothing downstream may build. (Held partitions only hold themselves.)"""
        return bool(self.table_level_failures)

    @property
    def quarantine_ratio(self) -> float:
        return self.quarantined_total / self.rows_checked if self.rows_checked else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (only str, int, float, bool, lists and dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(**{**data, "expectations": [ExpectationOutcome(**e) for e in data["expectations"]],
                      "held": [PartitionVerdict(**h) for h in data.get("held", [])]})

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED" if self.blocking else "passed, with partitions held back"
        if self.reused_from_run is not None:
            verdict += f" (table unchanged since run {self.reused_from_run}: not validated again)"
        text = (f"gate {verdict} for {self.raw_table}: {self.rows_checked} rows checked, "
                f"{self.quarantined_new} newly quarantined ({self.quarantined_total} rows in quarantine)")
        if self.table_level_failures:
            text += "; table-level failures: " + "; ".join(self.table_level_failures)
        text += "".join(f"; HELD {h.tenant_id}/{h.account_id} ({h.source}): {h.reason}" for h in self.held)
        return text + "".join(f"; {n}" for n in self.notes)


def libpq_url(database_url: str) -> str:
    """The URL psycopg understands: drop a SQLAlchemy driver suffix such as '+psycopg2'."""
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme.split("+")[0], *parts[1:]))


def sqlalchemy_url(database_url: str, schema: str) -> str:
    """GX goes through SQLAlchemy: name the psycopg2 driver and put the schema on the search path
    (`schema_name=` on GX table assets is deprecated)."""
    parts = urlsplit(database_url)
    query = "&".join(q for q in (parts.query, f"options=-csearch_path%3D{schema}") if q)
    return urlunsplit(("postgresql+psycopg2", parts.netloc, parts.path, query, parts.fragment))


def _is_socket_url(database_url: str) -> bool:
    # GX's add_postgres validates the URL as host-based and rejects 'postgresql://user@/db?host=/sock'.
    return not urlsplit(database_url).hostname


def _expectation(rule: Rule, index: int, now: datetime) -> Any:
    import great_expectations.expectations as gxe

    kwargs = dict(rule.kwargs)
    if rule.expectation == "expect_column_values_to_be_between" and isinstance(kwargs.get("min_value"), str):
        kwargs["max_value"] = (now + timedelta(days=1)).isoformat()  # timestamps: not in the future
    camel = "".join(word.capitalize() for word in rule.expectation.split("_"))
    return getattr(gxe, camel)(**kwargs, meta={"rule": index})


def _validate(database_url: str, suite: Suite) -> tuple[list[tuple[Rule, Any]], int]:
    """Run the whole suite in one GX validation; returns (rule, GX result) pairs and the row count."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    schema, table = suite.raw_table.split(".")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    url = sqlalchemy_url(database_url, schema)
    if _is_socket_url(database_url):
        source = context.data_sources.add_sql("warehouse", connection_string=url)
    else:
        source = context.data_sources.add_postgres("warehouse", connection_string=url)
    batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table("all").get_batch()
    rules = [*suite.row_rules, *suite.table_rules]
    gx_suite = gx.ExpectationSuite(name=suite.name)
    now = datetime.now(UTC)
    for index, rule in enumerate(rules):
        gx_suite.add_expectation(_expectation(rule, index, now))
    validation = batch.validate(gx_suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": list(KEY_COLUMNS),
        "partial_unexpected_count": ALL_ROWS})
    pairs = [(rules[int(r.expectation_config.meta["rule"])], r) for r in validation.results]
    rows = max((int(r.result.get("element_count") or 0) for _, r in pairs), default=0)
    return pairs, rows


def _raised(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:300]
    return None


def table_signature(database_url: str, suite: Suite, limits: object) -> str:
    """What a verdict depends on: the suite, the limits, the table's columns (warehouse.digest.table_shapes: names
    and types) and its content (warehouse.digest.table_digest: the row count and the sum of a 64-bit hash of each
    whole row's text). Taken before validating, so rows that land during a validation make the next gate run
    again."""
    schema, table = suite.raw_table.split(".")
    with psycopg.connect(libpq_url(database_url)) as conn:
        columns = table_shapes(conn, [(schema, table)]).get((schema, table))
        rows = table_digest(conn, schema, table)
    state = repr((suite, limits, columns, rows))
    return hashlib.sha256(state.encode()).hexdigest()


def _last_passing_verdict(database_url: str, raw_table: str, signature: str) -> GateResult | None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("""select result, run_id from ops.gate_verdicts where tenant_id = %s
                              and raw_table = %s and signature = %s and passed""",
                           (PUBLIC_TENANT, raw_table, signature)).fetchone()
    if row is None:
        return None
    result = GateResult.from_dict(row[0])
    _, total = quarantine_failing_rows(libpq_url(database_url), raw_table, [], None)  # releases show at once
    return dataclasses.replace(result, quarantined_new=0, quarantined_total=total, failed_rows=0,
                               reused_from_run=row[1] or "?")


def run_gate(database_url: str, raw_table: str, run_id: str | None, *,
             max_quarantine_ratio: float = 0.05, min_held_rows: int = MIN_HELD_ROWS, reuse: bool = True) -> GateResult:
    """Validate `raw_table` (e.g. 'raw.binance_trades'), quarantine its failing rows, judge the table and each of
    its partitions. With `reuse`, an unchanged table keeps its last passing verdict (see the module's docstring)."""
    suite = suite_for(raw_table)
    with psycopg.connect(libpq_url(database_url)) as conn:  # before the signature: every row up to now is in it
        (validated_at,) = conn.execute("select now()").fetchone()  # type: ignore[misc]
    signature = table_signature(database_url, suite, (max_quarantine_ratio, min_held_rows))
    if reuse and (previous := _last_passing_verdict(database_url, raw_table, signature)) is not None:
        # unchanged since it passed: its rows up to now are validated — a hold that begins later keeps them
        advance_passed_through(libpq_url(database_url), raw_table, validated_at, run_id)
        return previous
    result, partitions = _run_suite(database_url, suite, run_id, max_quarantine_ratio, min_held_rows, validated_at)
    record_partition_verdicts(libpq_url(database_url), raw_table, partitions, validated_at, run_id)
    record_gate_verdict(libpq_url(database_url), PUBLIC_TENANT, raw_table, signature, result.passed,
                        json.dumps(result.to_dict()), run_id)
    return result


def _run_suite(database_url: str, suite: Suite, run_id: str | None, max_quarantine_ratio: float,
               min_held_rows: int, validated_at: datetime) -> tuple[GateResult, list[PartitionVerdict]]:
    raw_table = suite.raw_table
    pairs, rows_checked = _validate(database_url, suite)
    row_rules = {id(rule) for rule in suite.row_rules}
    outcomes: list[ExpectationOutcome] = []
    table_failures: list[str] = []
    quarantine: list[QuarantineRow] = []
    for rule, result in pairs:
        level = "row" if id(rule) in row_rules else "table"
        error = _raised(result)
        if error:  # e.g. a column the suite expects is gone: nothing can be trusted
            table_failures.append(f"{rule.check_name}: could not be evaluated ({error})")
            outcomes.append(ExpectationOutcome(rule.check_name, level, False, 0))
            continue
        details = result.result or {}
        count = int(details.get("unexpected_count") or 0)
        outcomes.append(ExpectationOutcome(rule.check_name, level, bool(result.success), count))
        if result.success:
            continue
        if level == "table":
            table_failures.append(f"{rule.check_name}: {rule.reason}" + (f" ({count} rows)" if count else ""))
            continue
        failing = details.get("unexpected_index_list") or []
        if len(failing) != count:  # a row we cannot name cannot be quarantined: block rather than let it through
            table_failures.append(f"{rule.check_name}: {count} rows failed, {len(failing)} could be identified")
        quarantine += [(str(row["tenant_id"]), str(row["account_id"]), str(row["source"]),
                        str(row["source_record_id"]), rule.check_name, reason_for(rule, row)) for row in failing]
    new, total_rows = quarantine_failing_rows(libpq_url(database_url), raw_table, quarantine, run_id)
    counts = partition_counts(database_url, raw_table, validated_at)
    partitions = judge_partitions(counts, max_quarantine_ratio, min_held_rows)
    result = judge(raw_table, rows_checked, outcomes, table_failures, new, total_rows, max_quarantine_ratio,
                   failed_rows=len({q[:4] for q in quarantine}), held=[p for p in partitions if p.held])
    return result, partitions


def partition_counts(database_url: str, raw_table: str, validated_at: datetime) -> list[PartitionVerdict]:
    """Rows and quarantined rows per (tenant, account, source) among the rows ingested by `validated_at`
    (what this validation saw)."""
    schema, table = raw_table.split(".")
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(sql.SQL("""
            select r.tenant_id, r.account_id, r.source, count(*), count(*) filter (where exists (
                       select 1 from ops.quarantine q where q.raw_table = %(table)s and q.tenant_id = r.tenant_id
                       and q.account_id = r.account_id and q.source = r.source
                       and q.source_record_id = r.source_record_id))
            from {table} r where r.ingested_at <= %(at)s
            group by 1, 2, 3 order by 1, 2, 3""").format(table=sql.Identifier(schema, table)),
            {"table": raw_table, "at": validated_at}).fetchall()
    return [PartitionVerdict(str(t), str(a), str(s), int(n), int(bad)) for t, a, s, n, bad in rows]


def judge_partitions(counts: list[PartitionVerdict], max_quarantine_ratio: float,
                     min_held_rows: int = MIN_HELD_ROWS) -> list[PartitionVerdict]:
    """Each partition held or not: held when its quarantined share exceeds the limit and it has at least
    `min_held_rows` bad rows — a source gone systematically bad, for this account alone."""
    judged = []
    for p in counts:
        ratio = p.quarantined / p.rows if p.rows else 0.0
        held = ratio > max_quarantine_ratio and p.quarantined >= min_held_rows
        reason = (f"{p.quarantined} of {p.rows} rows quarantined ({ratio:.1%}), over the limit of "
                  f"{max_quarantine_ratio:.1%}: the source looks systematically broken for this account"
                  if held else None)
        judged.append(dataclasses.replace(p, held=held, reason=reason))
    return judged


def judge(raw_table: str, rows_checked: int, outcomes: list[ExpectationOutcome], table_failures: list[str],
          quarantined_new: int, quarantined_total: int, max_quarantine_ratio: float, *,
          failed_rows: int = 0, held: list[PartitionVerdict] | None = None) -> GateResult:
    """The verdict: blocked by any table-level failure; not passed (but not blocking) while partitions are held."""
    held = held or []
    notes = [f"{len(held)} partition(s) held back: their accounts' newer rows wait, every other account goes on"
             ] if held else []
    passed = not table_failures and not held
    return GateResult(raw_table, rows_checked, outcomes, quarantined_new, quarantined_total, table_failures,
                      max_quarantine_ratio, passed, failed_rows, notes, held=held)
