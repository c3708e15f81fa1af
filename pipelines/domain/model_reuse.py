"""Which dbt nodes a transform must build, and which it may keep as they are (issue 17: a run with nothing new).

A node's signature digests everything its relation's content depends on: its own SQL and config, the project's
macros and vars (one `project` digest), the content of every source table it reads (directly or through its
parents: the parents' signatures are part of it), and, for a node whose SQL reads the calendar (`daily`), today's
date. A node whose signature equals the one stored at its last successful build holds what a build would write
again: keeping it is exact, not an approximation. A test is a node like the others: kept with its last result.

A node's *definition* is the same digest without the data: its SQL, config, the project, its parents'
definitions, and of each source table its columns (a view's `select *` is expanded when the view is created).
A view holds no data: one whose definition is what it was when it was created, over parents that are not built
again, is still exact when the data under it changed; only its tests must run again. When that is all a step has
to do, it needs no dbt (`without_dbt`): the tests run as the SQL dbt compiled for them last time.

Pure: no dbt, no SQL. The caller digests the source tables and stores the signatures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import date

DAILY_TAG = "daily"  # dbt tag: the node reads today's date (current_date, accounting_today())


@dataclass(frozen=True)
class DbtNode:
    unique_id: str
    own: str                     # a digest of the node's SQL, config and test arguments
    parents: tuple[str, ...]     # unique_ids: models, seeds, sources
    daily: bool = False


def signatures(nodes: Mapping[str, DbtNode], source_digests: Mapping[str, str], project: str,
               today: date) -> dict[str, str]:
    """Every node's signature. `source_digests`: each source's content digest by unique_id (a source missing from
    it has no known content: its readers get no signature and are always built)."""
    out: dict[str, str | None] = {}

    def signature(uid: str) -> str | None:
        if uid in out:
            return out[uid]
        if uid not in nodes:  # a source
            digest = source_digests.get(uid)
            out[uid] = None if digest is None else hashlib.sha256(f"{uid}\0{digest}".encode()).hexdigest()
            return out[uid]
        node = nodes[uid]
        out[uid] = None  # a cycle (dbt refuses them) would read as 'unknown', not recurse forever
        parents = [signature(p) for p in node.parents]
        if any(p is None for p in parents):
            return None
        parts = [uid, node.own, project, today.isoformat() if node.daily else "", *sorted(p for p in parents if p)]
        out[uid] = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        return out[uid]

    for uid in nodes:
        signature(uid)
    return {uid: s for uid, s in out.items() if uid in nodes and s is not None}


def definition_signatures(nodes: Mapping[str, DbtNode], source_shapes: Mapping[str, str],
                          project: str) -> dict[str, str]:
    """Every node's definition: `signatures` with each source's columns (`source_shapes`, names and types) in place
    of its content, and no calendar."""
    return signatures({uid: replace(n, daily=False) for uid, n in nodes.items()}, source_shapes, project, date.min)


def without_dbt(to_build: Set[str], views: Set[str], defined: Mapping[str, str], stored_definitions: Mapping[str,
                str | None], compiled_tests: Set[str], missing: Set[str]) -> bool:
    """Whether a step can do what it must without dbt: every model to build is a view (`views`) that exists (not
    `missing`) and whose definition is the one it was created with, and every test to run has its definition
    unchanged and the SQL dbt compiled for it then (`compiled_tests`). A table, a seed, a new or changed node, or a
    view gone with the table under it: dbt builds the step as usual."""
    if not to_build:
        return False

    def same(uid: str) -> bool:
        return uid in defined and stored_definitions.get(uid) == defined[uid]

    return all(same(uid) and (uid in compiled_tests if uid.startswith("test.")
                              else uid in views and uid not in missing) for uid in to_build)


def kept(nodes: Mapping[str, DbtNode], selected: Set[str], current: Mapping[str, str],
         stored: Mapping[str, str], built_now: Set[str]) -> set[str]:
    """The selected nodes whose relation (or test result) already matches their inputs: each was last built on
    today's signature, and so was every model and seed above it, none of them built again in this run
    (`built_now`). A rebuilt parent replaces its relation, and PostgreSQL drops the views on the old one with it
    (dbt swaps relations and drops the old one CASCADE): its children are built again even when their own
    signature did not change (a parent whose last build failed, built again now). A node without a signature
    today (an input not digested) is never kept."""
    memo: dict[str, bool] = {}

    def keepable(uid: str) -> bool:
        if uid not in nodes:
            return True  # a source: its content is in the signatures
        if uid not in memo:
            memo[uid] = False  # a cycle reads as 'build it'
            memo[uid] = (uid not in built_now and uid in current and stored.get(uid) == current[uid]
                         and all(keepable(p) for p in nodes[uid].parents))
        return memo[uid]

    return {uid for uid in selected if keepable(uid)}


def plan_kept(nodes: Mapping[str, DbtNode], selected: Set[str], current: Mapping[str, str],
              stored: Mapping[str, str], built_now: Set[str]) -> set[str]:
    """`kept`, made whole for one dbt invocation: excluding a model from it excludes its tests too, so a model
    with a selected test that must run (new, or its inputs changed) is built, and with it everything below it."""
    forced = set(built_now)
    while True:
        keep = kept(nodes, selected, current, stored, forced)
        must_run = [uid for uid in selected - keep if uid.startswith("test.")]
        parents = {p for uid in must_run for p in nodes[uid].parents if p in keep}
        if not parents:
            return keep
        forced |= parents


def topological_order(nodes: Mapping[str, DbtNode]) -> dict[str, int]:
    """Each node's depth: 0 for a node reading sources only, else one more than its deepest parent. Sorting by it
    puts parents before children."""
    depth: dict[str, int] = {}

    def of(uid: str) -> int:
        if uid not in nodes:
            return -1
        if uid not in depth:
            depth[uid] = 0  # a cycle stops here
            depth[uid] = 1 + max((of(p) for p in nodes[uid].parents), default=-1)
        return depth[uid]

    for uid in nodes:
        of(uid)
    return depth


def with_contexts(nodes: Mapping[str, DbtNode], contexts: Mapping[str, str]) -> dict[str, DbtNode]:
    """The nodes with each incremental model's *context* (a digest of what its incremental build assumes unchanged:
    the accounts' portfolios, the gate's holds) made part of its own digest: a changed context changes the model's
    definition, and its readers', so that they are built whole (`built_whole`)."""
    return {uid: replace(n, own=hashlib.sha256(f"{n.own}\0{contexts[uid]}".encode()).hexdigest())
            if uid in contexts else n for uid, n in nodes.items()}


def built_whole(to_build: Set[str], incremental: Set[str], defined: Mapping[str, str],
                stored_definitions: Mapping[str, str | None], missing: Set[str], full_refresh: bool) -> set[str]:
    """The incremental models among `to_build` that must be built whole, not from what they hold: all of them in a
    full refresh, else each never built, gone, or whose definition (its SQL, its parents', its context) is not
    the one its rows were built with."""
    return {uid for uid in to_build & incremental
            if full_refresh or uid in missing or stored_definitions.get(uid) is None
            or stored_definitions.get(uid) != defined.get(uid)}
