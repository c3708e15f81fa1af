"""The account syncs side by side (pipelines/app/runner.py `_sync_in_lanes`): each lane in a forked process of its
own, its accounts one after another, the outcomes reported and returned in the lanes' order whatever order the
lanes end in, and the venues' request budgets spent in a lane charged to this process afterwards."""

from __future__ import annotations

import os
import time

import dagster as dg
import pytest

from pipelines.app import runner
from pipelines.app.runner import RunOutcome
from pipelines.services.clients import budget_calls, merge_budget_calls, venue_budget
from pipelines.sources.exchanges.resilience import BudgetExhausted, RequestBudget


def _charging_execute(job_name: str, partition: str) -> RunOutcome:
    """Stands in for a sync run: spends one call of the lane's venue budget, takes a while (alpha's longest: the
    lanes do not end in their order), says which process ran it."""
    venue = job_name.split("_")[0]
    venue_budget(f"lanes-test-{venue}", 50).charge(venue)
    time.sleep(0.4 if venue == "alpha" else 0.05)
    return RunOutcome(job_name, partition, True, 0.0, run_id=str(os.getpid()))


def test_lanes_run_in_their_own_processes_and_report_in_order() -> None:
    lanes = [[("alpha_sync", "t1.a"), ("alpha_sync", "t2.a")], [("beta_sync", "t1.b")],
             [("gamma_sync", "t1.c"), ("gamma_sync", "t2.c"), ("gamma_sync", "t3.c")]]
    reported: list[str] = []
    before = len(budget_calls().get("lanes-test-alpha", (None, []))[1])
    outcomes = runner._sync_in_lanes(lanes, 3, _charging_execute, dg.DagsterInstance.ephemeral(),
                                     lambda o: reported.append(o.partition or ""))

    assert [(o.job, o.partition) for o in outcomes] == [pair for lane in lanes for pair in lane]
    pids = {o.job: o.run_id for o in outcomes}
    assert str(os.getpid()) not in pids.values() and len(set(pids.values())) == 3  # a process per lane here
    assert all(o.run_id == pids[o.job] for o in outcomes)  # a lane's accounts in one process, one after another
    assert sorted(reported) == sorted(o.partition or "" for o in outcomes)
    lanes_reported = [partition.split(".")[1] for partition in reported]  # each lane's reported as it ends, whole
    assert sum(1 for i in range(1, len(reported)) if lanes_reported[i] != lanes_reported[i - 1]) == 2
    # what the lanes spent is spent here too: alpha's two calls, beta's one, gamma's three
    spent = {venue: len(budget_calls()[f"lanes-test-{venue}"][1]) for venue in ("alpha", "beta", "gamma")}
    assert spent == {"alpha": before + 2, "beta": 1, "gamma": 3}


def _failing_in_beta(job_name: str, partition: str) -> RunOutcome:
    if job_name.startswith("beta"):
        raise RuntimeError("beta's process lost its way")
    return RunOutcome(job_name, partition, True, 0.0, run_id=str(os.getpid()))


def test_a_lane_that_fails_outside_dagster_fails_its_accounts_only() -> None:
    lanes = [[("alpha_sync", "t1.a")], [("beta_sync", "t1.b"), ("beta_sync", "t2.b")], [("gamma_sync", "t1.c")]]
    outcomes = runner._sync_in_lanes(lanes, 2, _failing_in_beta, dg.DagsterInstance.ephemeral(), None)
    assert [(o.partition, o.success) for o in outcomes] == [("t1.a", True), ("t1.b", False), ("t2.b", False),
                                                             ("t1.c", True)]
    assert "beta's process lost its way" in outcomes[1].failures[0]


def test_a_budget_merges_another_processes_calls_once() -> None:
    budget = RequestBudget(limit=3)
    now = time.monotonic()
    budget.charge("x", now)
    budget.merge([now, now + 1])  # `now` is the copy forked with it: counted once
    assert list(budget.calls) == [now, now + 1]
    budget.charge("x", now + 2)
    with pytest.raises(BudgetExhausted):  # the merged calls count against the limit
        budget.charge("x", now + 3)


def test_merging_creates_a_budget_this_process_had_not_opened() -> None:
    merge_budget_calls({"lanes-test-new": (7, [1.0, 2.0])})
    assert budget_calls()["lanes-test-new"] == (7, [1.0, 2.0])
