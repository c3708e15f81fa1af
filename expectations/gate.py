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
historical trade — price 0 — went straight into staging.) When only rows came in after the last verdict — the
rows it judged still digest as they did then, same suite, limits and columns, no table-level failure — GX
validates just the newer rows (and any row sharing a record key with one), and only their partitions and the
held ones are judged again: a day's 2,000 new trades at 1M are not a million rows validated again.

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
from warehouse.digest import digests_through, table_shapes
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
    validated_since: str | None = None  # only rows ingested after this (ISO) were validated: the rest were judged
    rows_in_table: int | None = None  # every row of the table when it was judged (rows_checked: those validated)

    @property
    def blocking(self) -> bool:
        """A table-level failure: nothing downstream may build. (Held partitions only hold themselves.)"""
        return bool(self.table_level_failures)

    @property
    def quarantine_ratio(self) -> float:
        rows = self.rows_in_table if self.rows_in_table is not None else self.rows_checked
        return self.quarantined_total / rows if rows else 0.0

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
        checked = f"{self.rows_checked} rows checked"
        if self.validated_since:
            checked = (f"{self.rows_checked} new rows checked (ingested after {self.validated_since}; "
                       f"{self.rows_in_table} in the table)")
        text = (f"gate {verdict} for {self.raw_table}: {checked}, "
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


def _validate(database_url: str, suite: Suite, since: datetime | None = None) -> tuple[list[tuple[Rule, Any]], int]:
    """Run the whole suite in one GX validation; returns (rule, GX result) pairs and the row count. With `since`,
    over the rows ingested after it and every row sharing a record key with one of them (a duplicate key is found
    where it involves a new row; the older rows were judged by the verdict `since` comes from)."""
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
    if since is None:
        asset = source.add_table_asset(table, table_name=table)
    else:
        asset = source.add_query_asset(table, query=newer_rows_query(table, since))
    batch = asset.add_batch_definition_whole_table("all").get_batch()
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


def newer_rows_query(table: str, since: datetime) -> str:
    """The rows ingested after `since` (a range read of the ingested_at index, V051/V052) and the rows sharing a
    record key with them; `table` is on the search path (sqlalchemy_url)."""
    keys = ", ".join(KEY_COLUMNS)
    return sql.SQL("select * from {t} where ({keys}) in (select {keys} from {t} where ingested_at > {since})").format(
        t=sql.Identifier(table), keys=sql.SQL(keys), since=sql.Literal(since)).as_string(None)


def _raised(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:300]
    return None


@dataclass(frozen=True)
class TableState:
    """What a verdict depends on, read in one pass before validating (rows that land during a validation make the
    next gate run look again): `frame` the suite, the limits and the table's columns (warehouse.digest.
    table_shapes); `content` the whole table's digest (warehouse.digest: row count and sum of a 64-bit hash of each
    whole row's text); `through_now` the digest of the rows ingested by `validated_at`, the rows this validation
    judges; `through_last` that of the rows ingested by the last verdict's `validated_through`."""

    validated_at: datetime
    frame: str
    content: str
    through_now: str
    through_last: str | None

    @property
    def signature(self) -> str:
        return hashlib.sha256(f"{self.frame}|{self.content}".encode()).hexdigest()


@dataclass(frozen=True)
class LastVerdict:
    signature: str
    passed: bool
    result: GateResult
    run_id: str | None
    frame: str | None
    validated_through: datetime | None
    through_digest: str | None


def _last_verdict(conn: psycopg.Connection[Any], raw_table: str) -> LastVerdict | None:
    row = conn.execute("""select signature, passed, result, run_id, frame, validated_through, through_digest
                          from ops.gate_verdicts where tenant_id = %s and raw_table = %s""",
                       (PUBLIC_TENANT, raw_table)).fetchone()
    if row is None:
        return None
    signature, passed, result, run_id, frame, through, digest = row
    return LastVerdict(signature, passed, GateResult.from_dict(result), run_id, frame, through, digest)


def table_state(conn: psycopg.Connection[Any], suite: Suite, limits: object, last: LastVerdict | None) -> TableState:
    schema, table = suite.raw_table.split(".")
    (validated_at,) = conn.execute("select now()").fetchone()  # type: ignore[misc]
    conn.commit()  # the digests' snapshot begins after validated_at: every row ingested by then is in it
    columns = table_shapes(conn, [(schema, table)]).get((schema, table))
    frame = hashlib.sha256(repr((suite, limits, columns)).encode()).hexdigest()
    last_through = last.validated_through if last is not None else None
    content, (through_now, through_last) = digests_through(conn, schema, table, [validated_at, last_through])
    assert through_now is not None
    return TableState(validated_at, frame, content, through_now, through_last)


def increment_since(state: TableState, last: LastVerdict | None) -> datetime | None:
    """When only the rows ingested after the last verdict need validating: it judged the table under the same
    suite, limits and columns, found nothing broken at table level, and every row it judged is as it was (none
    changed, deleted or arrived late: their digest is the one it kept). Held partitions do not prevent it: they
    are judged again with the new rows' partitions."""
    if last is None or last.validated_through is None or last.result.table_level_failures:
        return None
    if last.frame != state.frame or last.through_digest != state.through_last:
        return None
    return last.validated_through


def run_gate(database_url: str, raw_table: str, run_id: str | None, *,
             max_quarantine_ratio: float = 0.05, min_held_rows: int = MIN_HELD_ROWS, reuse: bool = True) -> GateResult:
    """Validate `raw_table` (e.g. 'raw.binance_trades'), quarantine its failing rows, judge the table and each of
    its partitions. With `reuse`, an unchanged table keeps its last passing verdict, and a table whose judged rows
    are unchanged has only its newer rows validated (see the module's docstring)."""
    suite = suite_for(raw_table)
    with psycopg.connect(libpq_url(database_url)) as conn:
        last = _last_verdict(conn, raw_table)
        state = table_state(conn, suite, (max_quarantine_ratio, min_held_rows), last)
    if reuse and last is not None and last.passed and last.signature == state.signature:
        # unchanged since it passed: its rows up to now are validated — a hold that begins later keeps them
        advance_passed_through(libpq_url(database_url), raw_table, state.validated_at, run_id)
        _, total = quarantine_failing_rows(libpq_url(database_url), raw_table, [], None)  # releases show at once
        return dataclasses.replace(last.result, quarantined_new=0, quarantined_total=total, failed_rows=0,
                                   reused_from_run=last.run_id or "?")
    since = increment_since(state, last) if reuse else None
    result, partitions = _run_suite(database_url, suite, run_id, max_quarantine_ratio, min_held_rows,
                                    state.validated_at, since)
    result = dataclasses.replace(result, rows_in_table=int(state.content.split(":")[0]))
    record_partition_verdicts(libpq_url(database_url), raw_table, partitions, state.validated_at, run_id)
    if since is not None:  # the partitions not judged again had no new rows and no hold: theirs still stands
        advance_passed_through(libpq_url(database_url), raw_table, state.validated_at, run_id)
    record_gate_verdict(libpq_url(database_url), PUBLIC_TENANT, raw_table, state.signature, result.passed,
                        json.dumps(result.to_dict()), run_id,
                        increment=(state.frame, state.validated_at, state.through_now))
    return result


def _run_suite(database_url: str, suite: Suite, run_id: str | None, max_quarantine_ratio: float,
               min_held_rows: int, validated_at: datetime,
               since: datetime | None = None) -> tuple[GateResult, list[PartitionVerdict]]:
    raw_table = suite.raw_table
    pairs, rows_checked = _validate(database_url, suite, since)
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
    counts = partition_counts(database_url, raw_table, validated_at, since)
    partitions = judge_partitions(counts, max_quarantine_ratio, min_held_rows)
    result = judge(raw_table, rows_checked, outcomes, table_failures, new, total_rows, max_quarantine_ratio,
                   failed_rows=len({q[:4] for q in quarantine}), held=[p for p in partitions if p.held])
    return dataclasses.replace(result, validated_since=since.isoformat() if since else None), partitions


def partition_counts(database_url: str, raw_table: str, validated_at: datetime,
                     since: datetime | None = None) -> list[PartitionVerdict]:
    """Rows and quarantined rows per (tenant, account, source) among the rows ingested by `validated_at`
    (what this validation saw). With `since`, only the partitions with rows ingested after it or held now (the
    others' counts cannot have grown: quarantine rows come from validating their rows)."""
    schema, table = raw_table.split(".")
    judged = sql.SQL("true") if since is None else sql.SQL("""(r.tenant_id, r.account_id, r.source) in (
            select tenant_id, account_id, source from {table} where ingested_at > %(since)s
            union select tenant_id, account_id, source from ops.gate_partitions
                  where raw_table = %(table)s and held)""").format(table=sql.Identifier(schema, table))
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(sql.SQL("""
            select r.tenant_id, r.account_id, r.source, count(*), count(*) filter (where exists (
                       select 1 from ops.quarantine q where q.raw_table = %(table)s and q.tenant_id = r.tenant_id
                       and q.account_id = r.account_id and q.source = r.source
                       and q.source_record_id = r.source_record_id))
            from {table} r where r.ingested_at <= %(at)s and {judged}
            group by 1, 2, 3 order by 1, 2, 3""").format(table=sql.Identifier(schema, table), judged=judged),
            {"table": raw_table, "at": validated_at, "since": since}).fetchall()
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
