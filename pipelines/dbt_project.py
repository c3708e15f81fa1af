"""The dbt project as dagster-dbt sees it. Kept in its own module so that
`dagster-dbt project prepare-and-package --file pipelines/dbt_project.py` can build the manifest first."""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

coinbook_dbt = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
coinbook_dbt.prepare_if_dev()
