"""The committed Superset import bundle (dashboards/superset/bundle/): generated from the dashboards' spec
(pipelines/domain/dashboards.py) and the dbt marts' YAML (name + data_type of each column), so the datasets list
exactly the columns the marts declare.

    .venv/bin/python -m pipelines.services.dashboards_bundle    # regenerate after a mart's columns change
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import yaml

from pipelines.domain.dashboards import DATABASE_NAME, DATASETS, file_name, render_bundle
from pipelines.settings import PROJECT_ROOT

BUNDLE_DIR = PROJECT_ROOT / "dashboards" / "superset" / "bundle"
MARTS_DIR = PROJECT_ROOT / "dbt_project" / "models" / "marts"
# What the committed bundle names; `coinbook dashboards up` imports it with the warehouse's real URL instead.
PLACEHOLDER_URI = "postgresql://postgres@127.0.0.1:54329/coinbook"


class BundleError(ValueError):
    """The dbt YAML does not give what a dataset needs (a mart or a column's data_type missing)."""


def model_columns(marts_dir: Path = MARTS_DIR) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str | None]]:
    """(mart → [(column, data_type)], mart → description) from every marts/**/_*.yml."""
    columns: dict[str, list[tuple[str, str]]] = {}
    descriptions: dict[str, str | None] = {}
    for path in sorted(marts_dir.glob("**/_*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            columns[model["name"]] = [(c["name"], c.get("data_type") or "") for c in model.get("columns", [])]
            description = model.get("description")
            descriptions[model["name"]] = " ".join(description.split()) if description else None
    return columns, descriptions


def dataset_columns(marts_dir: Path = MARTS_DIR) -> dict[str, list[tuple[str, str]]]:
    """The columns of each mart a dataset reads; a mart missing or a column without data_type is an error."""
    columns, _ = model_columns(marts_dir)
    problems = []
    for dataset in DATASETS:
        declared = columns.get(dataset.mart)
        if not declared:
            problems.append(f"marts.{dataset.mart}: no columns in its dbt YAML")
        else:
            problems += [f"marts.{dataset.mart}.{name}: no data_type" for name, kind in declared if not kind]
    if problems:
        raise BundleError("; ".join(problems))
    return {dataset.mart: columns[dataset.mart] for dataset in DATASETS}


def generate(sqlalchemy_uri: str = PLACEHOLDER_URI, marts_dir: Path = MARTS_DIR) -> dict[str, dict[str, Any]]:
    # Only names and types are taken: a reworded description in the dbt YAML does not make the bundle stale.
    return render_bundle(dataset_columns(marts_dir), {}, sqlalchemy_uri).files


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def write(bundle_dir: Path = BUNDLE_DIR) -> list[Path]:
    """Rewrite the committed bundle (files no longer generated are removed)."""
    files = generate()
    written = []
    for old in bundle_dir.glob("**/*.yaml"):
        if str(old.relative_to(bundle_dir)) not in files:
            old.unlink()
    for relative, document in files.items():
        path = bundle_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(document))
        written.append(path)
    return written


def read(bundle_dir: Path = BUNDLE_DIR) -> dict[str, dict[str, Any]]:
    return {str(path.relative_to(bundle_dir)): yaml.safe_load(path.read_text())
            for path in sorted(bundle_dir.glob("**/*.yaml"))}


def zipped(sqlalchemy_uri: str, bundle_dir: Path = BUNDLE_DIR, kind: str = "Dashboard") -> bytes:
    """The committed bundle as the zip Superset imports (one top folder), its database pointed at `sqlalchemy_uri`
    (a URL without password: Superset gets that at connect time). `kind` is the metadata type the importer checks:
    'Dashboard' for `superset import-dashboards`, 'assets' for the assets importer (which overwrites everything)."""
    files = read(bundle_dir)
    files["metadata.yaml"]["type"] = kind
    files[f"databases/{file_name(DATABASE_NAME)}.yaml"]["sqlalchemy_uri"] = sqlalchemy_uri
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for relative, document in files.items():
            archive.writestr(f"coinbook_dashboards/{relative}", dump(document))
    return buffer.getvalue()


if __name__ == "__main__":
    for written_path in write():
        print(written_path.relative_to(PROJECT_ROOT))
