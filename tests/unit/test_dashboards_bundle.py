"""The committed Superset bundle (dashboards/superset/bundle/) against the dbt marts' YAML and the dashboards'
spec: a mart column renamed or retyped fails here, not in a chart."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pipelines.domain.dashboards import (
    CHARTS,
    CHARTS_BY_KEY,
    DASHBOARDS,
    DATASETS,
    chart_columns,
    datasets_of,
    rls_clause,
    superset_type,
)
from pipelines.services import dashboards_bundle
from pipelines.services.dashboards import Paths, db_login, split_password

REGENERATE = "run .venv/bin/python -m pipelines.services.dashboards_bundle and commit dashboards/superset/bundle/"


def _dataset_files() -> dict[str, dict]:
    return {document["table_name"]: document for path, document in dashboards_bundle.read().items()
            if path.startswith("datasets/")}


def test_the_committed_bundle_is_what_the_generator_makes() -> None:
    assert dashboards_bundle.read() == dashboards_bundle.generate(), REGENERATE


def test_each_dataset_lists_exactly_its_marts_columns_and_types() -> None:
    declared, _ = dashboards_bundle.model_columns()
    datasets = _dataset_files()
    assert sorted(datasets) == sorted(dataset.mart for dataset in DATASETS)
    for mart, document in datasets.items():
        assert document["schema"] == "marts"
        assert [(c["column_name"], c["type"]) for c in document["columns"]] == [
            (name, superset_type(kind)) for name, kind in declared[mart]], f"marts.{mart}: {REGENERATE}"


def test_a_renamed_mart_column_fails_the_bundle(tmp_path: Path) -> None:
    marts = tmp_path / "marts"
    shutil.copytree(dashboards_bundle.MARTS_DIR, marts)
    models = marts / "positions" / "_positions.yml"
    models.write_text(models.read_text().replace("name: value_usd", "name: value_in_usd", 1))
    renamed = dashboards_bundle.generate(marts_dir=marts)
    assert renamed != dashboards_bundle.read()
    columns = [c["column_name"] for c in renamed["datasets/Coinbook_warehouse/positions.yaml"]["columns"]]
    assert "value_in_usd" in columns and "value_usd" not in columns
    # …and the charts that read value_usd no longer find it in their dataset
    assert any("value_usd" in chart_columns(chart) and chart.mart == "positions" for chart in CHARTS)


def test_every_column_a_chart_uses_is_in_its_dataset() -> None:
    datasets = _dataset_files()
    for chart in CHARTS:
        available = {c["column_name"] for c in datasets[chart.mart]["columns"]}
        assert chart_columns(chart), chart.key
        missing = chart_columns(chart) - available
        assert not missing, f"chart {chart.key} uses {sorted(missing)}, not in marts.{chart.mart}"


def test_chart_columns_reads_axes_groupings_metrics_and_filters() -> None:
    columns = chart_columns(CHARTS_BY_KEY["volatility"])
    assert columns == {"period_start", "asset", "volatility_30d", "frequency"}
    assert chart_columns(CHARTS_BY_KEY["correlations_heatmap"]) == {"asset_a", "asset_b", "correlation_30d", "as_of"}


def test_dashboards_name_known_charts_and_uuids_are_fixed_and_unique() -> None:
    files = dashboards_bundle.read()
    uuids = [document["uuid"] for document in files.values() if "uuid" in document]
    assert len(uuids) == len(set(uuids))
    used = {key for dashboard in DASHBOARDS for key in dashboard.chart_keys}
    assert used == set(CHARTS_BY_KEY), "every chart on a dashboard, every dashboard chart defined"
    for dashboard in DASHBOARDS:
        position = files[f"dashboards/{dashboard.slug}.yaml"]["position"]
        charts = [node["meta"] for node in position.values() if isinstance(node, dict) and node.get("type") == "CHART"]
        assert {meta["uuid"] for meta in charts} == {CHARTS_BY_KEY[key].uuid for key in dashboard.chart_keys}
        assert all(isinstance(meta["chartId"], int) for meta in charts)
        assert datasets_of(dashboard)


def test_the_database_has_no_password_and_datasets_read_marts_only() -> None:
    text = "\n".join(path.read_text() for path in dashboards_bundle.BUNDLE_DIR.glob("**/*.yaml"))
    database = yaml.safe_load((dashboards_bundle.BUNDLE_DIR / "databases" / "Coinbook_warehouse.yaml").read_text())
    assert ":@" not in database["sqlalchemy_uri"] and "password" not in text.lower()
    assert all(document["schema"] == "marts" and document["sql"] is None for document in _dataset_files().values())


def test_the_warehouse_password_is_split_from_the_url() -> None:
    assert split_password("postgresql://pipeline:s3cret@db.example:5433/books?sslmode=require") == (
        "postgresql+psycopg2://pipeline@db.example:5433/books?sslmode=require", "s3cret")
    assert split_password("postgresql://postgres@127.0.0.1:54329/coinbook") == (
        "postgresql+psycopg2://postgres@127.0.0.1:54329/coinbook", None)


def test_row_level_filters_keep_a_tenant_to_its_rows_and_the_shared_market_data() -> None:
    strict, shared = (next(d for d in DATASETS if d.shared == flag) for flag in (False, True))
    assert rls_clause("acme", strict) == "tenant_id = 'acme'"
    assert rls_clause("acme", shared) == "tenant_id IN ('acme', 'public')"


def test_superset_connects_as_a_login_of_its_own_per_database() -> None:
    # logins are cluster-wide: a test database's set-up must not reset the password of the project's
    assert db_login("postgresql://postgres@127.0.0.1:54329/coinbook") == "superset"
    assert db_login("postgresql://postgres@127.0.0.1:54329/coinbook_dash_1a2b3c4d") == "superset_coinbook_dash_1a2b3c4d"


def test_superset_paths_are_absolute_whatever_coinbook_home_is() -> None:
    # superset and gunicorn run with their working directory in the Superset folder
    paths = Paths(Path(".coinbook/superset"), Path("venv"))
    assert paths.root.is_absolute() and paths.bin("gunicorn").is_absolute()


def test_raw_tables_format_every_float_column() -> None:
    # a double precision shown raw reads 2.360000000000002 (the VaR backtest did): each gets a d3 number format
    datasets = _dataset_files()
    for chart in CHARTS:
        if chart.params.get("query_mode") != "raw":
            continue
        types = {c["column_name"]: c["type"] for c in datasets[chart.mart]["columns"]}
        floats = {name for name in chart.params["all_columns"] if types[name] in ("DOUBLE PRECISION", "REAL")}
        unformatted = floats - set(chart.params.get("column_config", {}))
        assert not unformatted, f"chart {chart.key} shows {sorted(unformatted)} unformatted"


def test_monthly_bars_are_labelled_by_month() -> None:
    # on a time axis with smart_date, the padded edge of the last bar was labelled '.838ms'
    params = CHARTS_BY_KEY["realized_by_month"].params
    assert params["time_grain_sqla"] == "P1M" and params["x_axis_time_format"] == "%b %Y"
