"""Keep the dbt models whose inputs did not change (issue 17: a warm run with nothing new builds nothing).

Each dbt step of a transform run asks `plan_step` which of its selected models and tests it can keep: the
signature (pipelines/domain/model_reuse.py) of each is computed from the manifest and a content digest of every
source table above it, and compared with what it was last built on (ops.dbt_node_builds). dbt then builds the
rest (`--exclude` the kept ones); the kept ones are reported to Dagster as materialized with their last build's
run, and their tests with their last result, so the blocking checks gate the steps after them as before. After
dbt, `record_step` stores what was built and forgets what failed or was skipped.

When all a step must do is run the tests of views whose data changed but whose definition did not (the alerts and
the arbitrage scan are new on every run), it does so without dbt (`StepPlan.without_dbt`, `run_tests`): each test
is the SQL dbt compiled for it at its last run, wrapped as dbt wraps it, and judged as dbt judges it. dbt's
start-up alone is ~8 s a step; the warm run's two such steps were most of its time over target.

`coinbook run --full-refresh` (the run tag FULL_REFRESH_TAG) keeps nothing: every model is built again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg

from pipelines.constants import PUBLIC_TENANT
from pipelines.domain.model_reuse import (
    DAILY_TAG,
    DbtNode,
    built_whole,
    definition_signatures,
    plan_kept,
    signatures,
    topological_order,
    with_contexts,
    without_dbt,
)
from warehouse.connection import Warehouse
from warehouse.digest import table_digest, table_shapes
from warehouse.model_builds import NodeBuild, node_builds, record_node_builds

FULL_REFRESH_TAG = "coinbook/full_refresh"
BUILT = {"success"}                  # a model's or seed's run_results status worth keeping
TEST_RESULTS = {"pass", "warn", "fail"}
RESOURCE_TYPES = ("model", "seed", "test")


def manifest_nodes(manifest: Mapping[str, Any]) -> dict[str, DbtNode]:
    """The project's models, seeds and tests as DbtNodes: what each reads, and a digest of what it is."""
    out = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] not in RESOURCE_TYPES:
            continue
        own = json.dumps({"checksum": node["checksum"]["checksum"], "config": node.get("config"),
                          "test": node.get("test_metadata")}, sort_keys=True, default=str)
        out[uid] = DbtNode(uid, hashlib.sha256(own.encode()).hexdigest(),
                           tuple(node.get("depends_on", {}).get("nodes", [])), DAILY_TAG in node.get("tags", []))
    return out


def project_digest(manifest: Mapping[str, Any], project_dir: Path, dbt_vars: str) -> str:
    """What every node depends on besides its own SQL: the project's macros (a macro's change reaches every model
    using it), dbt_project.yml (its vars and configs), the run's --vars and dbt's version."""
    macros = sorted((uid, m.get("macro_sql", "")) for uid, m in manifest["macros"].items()
                    if m.get("package_name") == manifest["metadata"].get("project_name"))
    parts = [json.dumps(macros), (project_dir / "dbt_project.yml").read_text(), dbt_vars,
             str(manifest["metadata"].get("dbt_version"))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def source_tables(manifest: Mapping[str, Any], uids: Iterable[str]) -> dict[str, SourceTable]:
    """The source tables above `uids`, by the source's unique_id. A source's `meta.coinbook.digest_ignores` names
    columns that say when or by which run a row was last touched, not what it holds (ops.alerts' last_seen_at):
    no model kept as a table may read them (tests/unit/test_dbt_reuse_sources.py checks it). `digest_as` gives a
    column's expression where only part of its values matter."""
    parents = manifest["parent_map"]
    seen: set[str] = set()
    todo = list(uids)
    while todo:
        uid = todo.pop()
        if uid not in seen:
            seen.add(uid)
            todo.extend(parents.get(uid, []))
    return {uid: SourceTable(s["schema"], s["identifier"], tuple(digest_ignores(s)),
                             dict(_coinbook_meta(s).get("digest_as", {})))
            for uid, s in manifest["sources"].items() if uid in seen}


@dataclass(frozen=True)
class SourceTable:
    schema: str
    table: str
    ignore: tuple[str, ...] = ()
    digest_as: dict[str, str] = field(default_factory=dict)


def _coinbook_meta(source: Mapping[str, Any]) -> Mapping[str, Any]:
    return (source.get("meta") or {}).get("coinbook") or {}


def digest_ignores(source: Mapping[str, Any]) -> list[str]:
    return list(_coinbook_meta(source).get("digest_ignores", []))


@dataclass
class StepPlan:
    """One dbt step's selection, split into what dbt builds and what is kept."""

    run_id: str
    selected: set[str]                          # the step's models, seeds and tests (unique_ids)
    current: dict[str, str]                     # today's signatures
    stored: dict[str, NodeBuild]
    kept: set[str] = field(default_factory=set)
    keys: dict[str, dg.AssetKey | dg.AssetCheckKey] = field(default_factory=dict)
    fqns: dict[str, str] = field(default_factory=dict)  # dbt's fully qualified names, for --exclude
    order: dict[str, int] = field(default_factory=dict)  # a topological order: parents before children
    definitions: dict[str, str] = field(default_factory=dict)  # today's definitions (no data)
    test_configs: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # each test's dbt config
    without_dbt: bool = False  # what is to build is views to keep and tests to run as SQL
    whole: dict[str, str] = field(default_factory=dict)  # incremental models to build whole: their relations

    def drop_whole(self, wh: Warehouse) -> None:
        """Drop the incremental models to be built whole, so that dbt builds them from nothing (dbt has no
        per-model --full-refresh). CASCADE: the views over them are built again in this run or a later step."""
        if not self.whole:
            return
        with wh.connect() as conn:
            for relation in sorted(self.whole.values()):
                kind = conn.execute("select c.relkind from pg_class as c where c.oid = to_regclass(%s)",
                                    (relation,)).fetchone()
                if kind is not None:  # a view when it was one before (int_ledger until 2026-12-06)
                    what = {"v": "view", "m": "materialized view"}.get(kind[0], "table")
                    conn.execute(f"drop {what} if exists {relation} cascade")  # type: ignore[arg-type]

    @property
    def to_build(self) -> set[str]:
        return self.selected - self.kept

    def describe_to_build(self, most: int = 12) -> str:
        """What is to build, when it is a few nodes: each with why (new, changed, its definition changed)."""
        if not self.to_build or len(self.to_build) > most:
            return ""

        def why(uid: str) -> str:
            last = self.stored.get(uid)
            if last is None:
                return "never built"
            if last.definition is None or self.definitions.get(uid) != last.definition:
                return "definition changed"
            return "data changed"

        return ": " + ", ".join(f"{uid.split('.')[-1 if uid.startswith('model.') else -2]} ({why(uid)})"
                                for uid in sorted(self.to_build))

    def exclude_args(self) -> list[str]:
        """dbt's --exclude for the kept nodes (fully qualified names: names alone may repeat across packages)."""
        return ["--exclude", " ".join(sorted(f"fqn:{self.fqns[uid]}" for uid in self.kept))] if self.kept else []

    def kept_events(self, context: dg.AssetExecutionContext) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """The kept models as materialized (no new data: the relation is the one their last build wrote) and their
        tests with their last result. Yielded before dbt's own events: a kept node's parents are all kept."""
        for uid in sorted(self.kept, key=lambda u: (self.order[u], u)):  # Dagster wants them in graph order
            key, build = self.keys[uid], self.stored[uid]
            metadata = {"kept": dg.MetadataValue.text(f"inputs unchanged since run {build.run_id}: not built again")}
            if isinstance(key, dg.AssetKey):
                yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_key(key),
                                metadata=metadata)
            else:
                yield _check_result(key, build.status, build.failures or 0, metadata)

    def run_tests(self, wh: Warehouse) -> dict[str, DbtTestRun] | None:
        """The tests to run, each as the SQL dbt compiled for it (see `dbt_test_query`), judged as dbt does; None when
        one of them could not run (dbt then builds the step as usual)."""
        out = {}
        try:
            with wh.connect() as conn:
                for uid in sorted(u for u in self.to_build if u.startswith("test.")):
                    config = self.test_configs[uid]
                    with conn.transaction():
                        conn.execute("set transaction read only")
                        failures, should_warn, should_error = conn.execute(dbt_test_query(
                            self.stored[uid].compiled_sql or "", config)).fetchone()  # type: ignore[misc]
                    verdict = dbt_test_status(str(config.get("severity", "error")), bool(should_warn),
                                              bool(should_error))
                    out[uid] = DbtTestRun(verdict, int(failures or 0))
        except psycopg.Error:
            return None
        return out

    def events_without_dbt(self, context: dg.AssetExecutionContext,
                           runs: Mapping[str, DbtTestRun]) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """The views as materialized (their definition unchanged: not created again; what they show changed) and
        their tests with the result of this run, in graph order."""
        for uid in sorted(self.to_build, key=lambda u: (self.order[u], u)):
            key = self.keys[uid]
            if isinstance(key, dg.AssetKey):
                note = (f"a view defined as at run {self.stored[uid].run_id}: not created again; the data it shows "
                        "changed, its tests ran")
                yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_key(key), metadata={
                    "not rebuilt": dg.MetadataValue.text(note)})
            else:
                yield _check_result(key, runs[uid].status, runs[uid].failures,
                                    {"run as SQL": dg.MetadataValue.text("dbt's compiled test; dbt not started")})


def _check_result(key: dg.AssetCheckKey, status: str, failures: int,
                  metadata: Mapping[str, dg.MetadataValue]) -> dg.AssetCheckResult:
    """A dbt test's result (dbt's status: pass | warn | fail) as Dagster's check result, as dagster-dbt reports
    one: passed only on pass, a warn as a WARN-severity failure."""
    return dg.AssetCheckResult(
        asset_key=key.asset_key, check_name=key.name, passed=status == "pass",
        severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
        metadata={**metadata, "failures": dg.MetadataValue.int(failures)})


@dataclass(frozen=True)
class DbtTestRun:
    status: str     # dbt's: pass | warn | fail
    failures: int


def dbt_test_query(compiled_sql: str, config: Mapping[str, Any]) -> str:
    """A dbt test's SQL as dbt runs it (its get_test_sql macro): the failing rows counted by `fail_calc`, compared
    by `warn_if` and `error_if`."""
    fail_calc = config.get("fail_calc") or "count(*)"
    limit = config.get("limit")
    return (f"select {fail_calc} as failures, {fail_calc} {config.get('warn_if') or '!= 0'} as should_warn, "
            f"{fail_calc} {config.get('error_if') or '!= 0'} as should_error from (\n{compiled_sql}\n"
            f"{f'limit {int(limit)}' if limit is not None else ''}\n) dbt_internal_test")


def dbt_test_status(severity: str, should_warn: bool, should_error: bool) -> str:
    """dbt's verdict (dbt/task/test.py, without --warn-error): fail when the severity is error and error_if holds,
    else warn when warn_if holds, else pass."""
    if severity.upper() == "ERROR" and should_error:
        return "fail"
    return "warn" if should_warn else "pass"


def plan_step(context: dg.AssetExecutionContext, project_dir: Path, dbt_vars: str, wh: Warehouse) -> StepPlan:
    """What this dbt step may keep. Nothing under FULL_REFRESH_TAG."""
    manifest, keys = _manifest_and_keys(context)
    selected = {uid for uid, key in keys.items()
                if key in context.selected_asset_keys or key in context.selected_asset_check_keys}
    nodes = manifest_nodes(manifest)
    sources = source_tables(manifest, selected)
    with wh.connect() as conn:
        digests = {uid: table_digest(conn, t.schema, t.table, t.ignore, t.digest_as) for uid, t in sources.items()}
        shapes = table_shapes(conn, [(t.schema, t.table) for t in sources.values()])
        stored = node_builds(conn, PUBLIC_TENANT)
        missing = _missing_relations(conn, manifest, selected)
        database = conn.info.dbname
        contexts = incremental_contexts(conn, manifest, selected)
    project = project_digest(manifest, project_dir, dbt_vars)
    current = signatures(nodes, digests, project, datetime.now(UTC).date())
    definitions = definition_signatures(with_contexts(nodes, contexts),
                                        {uid: shapes[(t.schema, t.table)] for uid, t in sources.items()
                                                if (t.schema, t.table) in shapes},
                                        # dbt's compiled SQL names the database: a copy of it needs its own
                                        f"{project}\0{database}")
    plan = StepPlan(context.run.run_id, selected, current, stored, keys={u: keys[u] for u in selected},
                    fqns={u: ".".join(manifest["nodes"][u]["fqn"]) for u in selected},
                    order=topological_order(nodes), definitions=definitions,
                    test_configs={u: manifest["nodes"][u]["config"] for u in selected if u.startswith("test.")})
    if context.run.tags.get(FULL_REFRESH_TAG) != "true":
        # built again in this run, or gone: a view dropped with the table under it when that was built alone
        # (dbt replaces a table with DROP … CASCADE), e.g. one group materialized from the Dagster UI
        built_now = {uid for uid, b in stored.items() if b.run_id == context.run.run_id} | missing
        plan.kept = plan_kept(nodes, selected, current, {u: b.signature for u, b in stored.items()}, built_now)
        views = {u for u in selected if manifest["nodes"][u]["resource_type"] == "model"
                 and manifest["nodes"][u]["config"].get("materialized") == "view"}
        plan.without_dbt = without_dbt(plan.to_build, views, definitions,
                                       {u: b.definition for u, b in stored.items()},
                                       # a test storing its failing rows writes a table: dbt's to do
                                       {u for u, b in stored.items() if b.compiled_sql
                                        and not plan.test_configs.get(u, {}).get("store_failures")},
                                       missing | built_now)
    incremental = incremental_models(manifest)
    whole = built_whole(plan.to_build, set(incremental), definitions, {u: b.definition for u, b in stored.items()},
                        missing, context.run.tags.get(FULL_REFRESH_TAG) == "true")
    plan.whole = {uid: incremental[uid] for uid in whole}
    return plan


def incremental_models(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The incremental models a run may build whole (not those configured `full_refresh: false`, which keep
    what they accumulated: reconciliation_break_history), with their relations."""
    return {uid: _relation(n) for uid, n in manifest["nodes"].items()
            if n["resource_type"] == "model" and n["config"].get("materialized") == "incremental"
            and n["config"].get("full_refresh") is not False}


def _relation(node: Mapping[str, Any]) -> str:
    """A model's or seed's relation, quoted: "schema"."alias"."""
    return f'"{node["schema"]}"."{node["alias"]}"'


def incremental_contexts(conn: Any, manifest: Mapping[str, Any], uids: Iterable[str]) -> dict[str, str]:
    """A digest of each selected incremental model's `meta.coinbook.incremental_context`: queries of what its
    incremental build takes as unchanged (macros/incremental_ledger.sql), their rows in order."""
    out = {}
    for uid in uids:
        queries = _coinbook_meta(manifest["nodes"][uid].get("config") or {}).get("incremental_context") or []
        if not queries:
            continue
        digest = hashlib.sha256()
        for query in queries:
            (rows,) = conn.execute(f"select md5(coalesce(string_agg(q::text, '|' order by q::text), '')) "
                                   f"from ({query}) as q").fetchone()
            digest.update(f"{query}\0{rows}\0".encode())
        out[uid] = digest.hexdigest()
    return out


def _missing_relations(conn: Any, manifest: Mapping[str, Any], uids: Iterable[str]) -> set[str]:
    """The models and seeds among `uids` whose relation does not exist."""
    relations = {uid: _relation(manifest["nodes"][uid]) for uid in uids
                 if manifest["nodes"][uid]["resource_type"] in ("model", "seed")}
    if not relations:
        return set()
    names = list(relations.values())
    exists = dict(conn.execute("select name, to_regclass(name) is not null from unnest(%s::text[]) as name",
                               (names,)).fetchall())
    return {uid for uid, name in relations.items() if not exists[name]}


def record_step(plan: StepPlan, run_results: Mapping[str, Any] | None, wh: Warehouse) -> None:
    """Store what dbt built and tested in this step (with each node's definition, and a test's compiled SQL);
    forget what failed, errored or was skipped. Without results (dbt did not get as far as writing them) every node
    the step meant to build is forgotten."""
    results = {r["unique_id"]: r for r in (run_results or {}).get("results", [])}
    built, forgotten = [], []
    for uid in plan.to_build:
        result = results.get(uid)
        status = result["status"] if result else None
        if uid in plan.current and status in (TEST_RESULTS if uid.startswith("test.") else BUILT):
            assert result is not None
            built.append((uid, NodeBuild(plan.current[uid], status, result.get("failures"), plan.run_id,
                                         plan.definitions.get(uid),
                                         (result.get("compiled_code") or None) if uid.startswith("test.") else None)))
        else:
            forgotten.append(uid)
    with wh.connect() as conn:
        record_node_builds(conn, PUBLIC_TENANT, built, forgotten)


def record_without_dbt(plan: StepPlan, runs: Mapping[str, DbtTestRun], wh: Warehouse) -> None:
    """Store a step done without dbt: each view on today's signature (its definition and its last build's run:
    it was not created again), each test with this run's result."""
    built = []
    for uid in plan.to_build:
        last = plan.stored[uid]
        if uid in runs:
            built.append((uid, NodeBuild(plan.current[uid], runs[uid].status, runs[uid].failures, plan.run_id,
                                         last.definition, last.compiled_sql)))
        else:
            built.append((uid, NodeBuild(plan.current[uid], last.status, None, last.run_id, last.definition)))
    with wh.connect() as conn:
        record_node_builds(conn, PUBLIC_TENANT, built, [])


def _manifest_and_keys(context: dg.AssetExecutionContext) -> tuple[Mapping[str, Any],
                                                                   dict[str, dg.AssetKey | dg.AssetCheckKey]]:
    """The manifest this asset was made from; each model's and seed's asset key and each test's check key, as
    dagster-dbt made them."""
    from dagster_dbt.asset_utils import get_asset_check_key_for_test, get_manifest_and_translator_from_dbt_assets

    manifest, translator, project = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    cache_key = (id(context.assets_def), manifest["metadata"].get("invocation_id"))
    if cache_key not in _KEYS:  # ~300 nodes through the translator: once per definitions, not per step
        keys: dict[str, dg.AssetKey | dg.AssetCheckKey] = {}
        for uid, node in manifest["nodes"].items():
            if node["resource_type"] in ("model", "seed"):
                keys[uid] = translator.get_asset_spec(manifest, uid, project).key
            elif node["resource_type"] == "test":
                check = get_asset_check_key_for_test(manifest, translator, uid, project)
                if check is not None:
                    keys[uid] = check
        _KEYS[cache_key] = keys
    return manifest, _KEYS[cache_key]


_KEYS: dict[tuple[int, Any], dict[str, dg.AssetKey | dg.AssetCheckKey]] = {}
