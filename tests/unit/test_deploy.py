"""deploy/ checked without Docker, Helm or a cluster (none is installable on this build machine, deploy/README.md):
the Dockerfile's pins are the project's, what it copies exists and it ends as a non-root code server; the Helm
values use only keys of the official chart (deploy/helm/chart-schema.json) and limit the run queue by the tags
the jobs really carry; the Grafana dashboard and the Kubernetes manifest use only what the endpoint exports."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipelines.defs.common import SOURCE_TAG, TIER_TAG, TRANSFORM_TAG
from pipelines.domain.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


DOCKERFILE = instructions(DEPLOY / "Dockerfile")


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for word, rest in DOCKERFILE:
        if word == "FROM":
            result.append([])
        if result:
            result[-1].append((word, rest))
    return result


def pin(name: str) -> str:
    deps = PYPROJECT["project"]["dependencies"] + [d for ds in PYPROJECT["project"]["optional-dependencies"].values()
                                                   for d in ds]
    return next(d.split("==", 1)[1].split()[0] for d in deps if d.split("==")[0].split("[")[0] == name)


def test_base_image_is_pinned_and_a_python_the_project_supports() -> None:
    (arg,) = [rest for word, rest in DOCKERFILE if word == "ARG" and rest.startswith("PYTHON_IMAGE=")]
    image = arg.split("=", 1)[1]
    repo, _, tag = image.partition(":")
    assert repo == "python" and re.fullmatch(r"3\.(\d+)\.\d+-slim-\w+", tag), image  # a patch release, not `latest`
    minor = int(tag.split(".")[1])
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.13" and 11 <= minor < 13
    assert [rest.split()[0] for word, rest in DOCKERFILE if word == "FROM"] == ["${PYTHON_IMAGE}"] * 2


def test_uv_is_the_makefiles_and_the_install_is_pyprojects_pins() -> None:
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_uv
    runs = " ".join(rest for word, rest in DOCKERFILE if word == "RUN")
    assert f"uv=={makefile_uv.group(1)}" in runs
    assert "uv pip compile pyproject.toml --extra k8s" in runs and "-r /tmp/requirements.txt" in runs
    # every dependency in pyproject is pinned exactly, so the compile resolves to the versions measured
    for dep in PYPROJECT["project"]["dependencies"]:
        assert "==" in dep, dep
    # the k8s extra is of the same Dagster family as dagster-postgres (STACK.md: pin the family exactly)
    assert pin("dagster-k8s") == pin("dagster-postgres") == pin("dagster-dbt")


def test_every_copied_path_exists_and_the_dockerignore_keeps_state_out() -> None:
    for word, rest in DOCKERFILE:
        if word != "COPY" or "--from=" in rest:
            continue
        sources = [a for a in shlex.split(rest) if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), source
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", ".coinbook", "dbt_project/target"} <= set(ignored)


def test_the_manifest_is_built_into_the_image() -> None:
    (build, _runtime) = stages()
    runs = [rest for word, rest in build if word == "RUN"]
    assert any("build_dbt_manifest" in r and "test -s dbt_project/target/manifest.json" in r for r in runs)
    copied = [rest for word, rest in build if word == "COPY"]
    assert any(c.startswith("dbt_project ") for c in copied)  # the project, whose manifest the code server reads


def test_runtime_is_non_root_and_serves_the_code_location() -> None:
    (_build, runtime) = stages()
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (cmd,) = [json.loads(rest) for word, rest in runtime if word == "CMD"]
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == PYPROJECT["tool"]["dagster"]["module_name"]
    assert cmd[cmd.index("--location-name") + 1] == PYPROJECT["tool"]["dagster"]["code_location_name"]
    exposed = {int(p) for word, rest in runtime if word == "EXPOSE" for p in rest.split()}
    assert int(cmd[cmd.index("-p") + 1]) in exposed and 9464 in exposed


# ── Helm ──────────────────────────────────────────────────────────────────────────────────────────────────────
VALUES: dict[str, Any] = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
SCHEMA: dict[str, Any] = json.loads((DEPLOY / "helm" / "chart-schema.json").read_text())


def test_values_use_only_the_charts_keys() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(VALUES)]
    assert errors == []


@pytest.mark.parametrize("path, value", [
    (("runLauncher", "config", "k8sRunLauncher", "envSecret"), [{"name": "x"}]),  # misspelt key
    (("dagsterDaemon", "runCoordinator", "type"), "QueueRunCoordinator"),
    (("dagster-user-deployments", "deployments", 0, "port"), "4000"),
    (("dagsterWebserver", "replicas"), 1),
])
def test_the_schema_check_refuses_a_wrong_key_or_value(path: tuple[Any, ...], value: Any) -> None:
    broken = json.loads(json.dumps(VALUES))
    node = broken
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))


def test_values_run_each_run_in_its_own_pod_on_external_postgres() -> None:
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert VALUES["postgresql"]["enabled"] is False and VALUES["postgresql"]["postgresqlHost"]
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["dagsterDaemon"]["enabled"] is True and VALUES["dagsterWebserver"]["replicaCount"] >= 1
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    args = deployment["codeServerArgs"]
    assert args[args.index("-m") + 1] == PYPROJECT["tool"]["dagster"]["module_name"]
    cmd = json.loads(next(rest for word, rest in DOCKERFILE if word == "CMD"))
    assert deployment["port"] == int(cmd[cmd.index("-p") + 1])
    assert deployment["podSecurityContext"]["runAsUser"] == int(
        next(rest for word, rest in DOCKERFILE if word == "USER").split(":")[0])


def test_queue_limits_name_tags_the_jobs_carry() -> None:
    """The run queue limits by tag; a limit on a tag no run carries would limit nothing."""
    from pipelines.definitions import build_definitions
    from pipelines.settings import get_settings

    limits = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    by_key = {limit["key"]: limit for limit in limits}
    assert set(by_key) == {SOURCE_TAG, TIER_TAG, TRANSFORM_TAG}
    assert by_key[SOURCE_TAG]["value"] == {"applyLimitPerUniqueValue": True}
    defs = build_definitions(get_settings())
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    for venue in ("binance", "coinbase", "kraken", "bitfinex", "htx", "bitcoin", "evm", "defi"):
        assert jobs[f"{venue}_account_sync"].tags.get(SOURCE_TAG) == venue
    for venue in ("binance", "kraken"):
        assert jobs[f"{venue}_balances_sync"].tags.get(SOURCE_TAG) == venue
    assert {n for n, j in jobs.items() if TRANSFORM_TAG in j.tags} == {"positions_refresh", "nightly_reconciliation"}
    from pipelines.defs.schedules.tiers import BACKFILL

    assert by_key[TIER_TAG]["value"] == BACKFILL.name  # the tier tag the new-account sensor's back-fills carry


# ── Grafana and the metrics Deployment ────────────────────────────────────────────────────────────────────────
def exported(name: str) -> bool:
    if name in METRICS:
        return True
    base = re.sub(r"_(sum|count)$", "", name)
    return base != name and METRICS.get(base, ("",))[0] == "summary"


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "coinbook.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {m for e in exprs for m in re.findall(r"\bcoinbook_[a-z0-9_]+", e)}
    assert used and sorted(m for m in used if not exported(m)) == []
    # and the operator sees each kind of figure the endpoint exports
    for family in ("coinbook_sync_lag_seconds", "coinbook_sync_rows_ingested_total", "coinbook_gate_quarantine_ratio",
                   "coinbook_api_calls_total", "coinbook_api_budget_use_ratio",
                   "coinbook_dagster_last_run_duration_seconds"):
        assert family in used, family
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_metrics_deployment_runs_the_cli_from_the_image() -> None:
    deployment, service = yaml.safe_load_all((DEPLOY / "k8s" / "coinbook-metrics.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[:3] == ["coinbook", "metrics", "serve"] and args[args.index("--host") + 1] == "0.0.0.0"
    port = int(args[args.index("--port") + 1])
    assert container["ports"][0]["containerPort"] == port == service["spec"]["ports"][0]["port"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    (deployment_values,) = VALUES["dagster-user-deployments"]["deployments"]
    image = deployment_values["image"]
    assert container["image"] == f"{image['repository']}:{image['tag']}"
