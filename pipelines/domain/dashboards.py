"""The Superset dashboards as data: datasets (one per mart), charts and dashboards, with fixed UUIDs, and the pure
functions that render them as Superset's v1 import bundle (dict per YAML file). Column names and types are not
here: they come from the dbt models' YAML (pipelines/services/dashboards_bundle.py reads it), so a column renamed
in a mart fails a unit test, not a chart.

No I/O: the services read the dbt YAML, write the bundle and talk to Superset.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pipelines.constants import PUBLIC_TENANT  # rows every tenant may see: market data, e.g. reference prices

BUNDLE_VERSION = "1.0.0"
DATABASE_NAME = "Coinbook warehouse"
DATABASE_UUID = "5c0e7b1a-4b8e-4d55-9d3c-2f1a6c0b0001"
# Seed of every dataset, chart and dashboard UUID (uuid5 of their name): fixed, so re-importing updates in place.
_NAMESPACE = uuid.UUID("5c0e7b1a-4b8e-4d55-9d3c-2f1a6c0b0000")


def fixed_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


@dataclass(frozen=True)
class Dataset:
    mart: str  # marts.<mart>
    dttm: str | None = None  # main time column
    shared: bool = False  # carries rows of the public tenant every viewer may see

    @property
    def uuid(self) -> str:
        return fixed_uuid("dataset", self.mart)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    viz: str
    mart: str
    params: dict[str, Any]
    width: int = 6

    @property
    def uuid(self) -> str:
        return fixed_uuid("chart", self.key)


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    rows: tuple[tuple[str, ...], ...]  # chart keys, row by row
    description: str = ""

    @property
    def uuid(self) -> str:
        return fixed_uuid("dashboard", self.slug)

    @property
    def chart_keys(self) -> tuple[str, ...]:
        return tuple(key for row in self.rows for key in row)


def _metric(sql: str, label: str) -> dict[str, Any]:
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label}


def _where(sql: str) -> dict[str, Any]:
    return {"expressionType": "SQL", "clause": "WHERE", "sqlExpression": sql}


def _big_number(metric: dict[str, Any], subheader: str) -> dict[str, Any]:
    return {"metric": metric, "subheader": subheader, "header_font_size": 0.4, "subheader_font_size": 0.125,
            "y_axis_format": "SMART_NUMBER"}


# d3 number formats (Superset's table `column_config`, keyed by column or metric label): what a reader expects
# instead of a float's 17 digits
PERCENT = ".1%"
RATIO = ".3f"
USD = ",.0f"
COUNT = ",d"
DAY = "%Y-%m-%d"  # a date column (a table's default shows 00:00 on it)


def _formats(**formats: str) -> dict[str, Any]:
    return {"column_config": {name: {"d3NumberFormat": fmt, "d3SmallNumberFormat": fmt}
                              for name, fmt in formats.items()}}


def _table(columns: list[str], order_by: str | list[tuple[str, bool]] | None = None, limit: int = 200,
           filters: list[dict[str, Any]] | None = None, time_format: str = "%Y-%m-%d %H:%M",
           formats: dict[str, str] | None = None) -> dict[str, Any]:
    """A raw table. `order_by`: a column (descending), or [(column, ascending)]."""
    orders = [(order_by, False)] if isinstance(order_by, str) else order_by or []
    return {"query_mode": "raw", "all_columns": columns, "row_limit": limit, "server_pagination": False,
            "order_by_cols": [f'["{column}", {str(ascending).lower()}]' for column, ascending in orders],
            "adhoc_filters": filters or [], "include_search": False, "table_timestamp_format": time_format,
            **_formats(**(formats or {}))}


def _grouped(groupby: list[str], metrics: list[dict[str, Any]], limit: int = 200,
             filters: list[dict[str, Any]] | None = None, formats: dict[str, str] | None = None) -> dict[str, Any]:
    return {"query_mode": "aggregate", "groupby": groupby, "metrics": metrics, "row_limit": limit,
            "order_desc": True, "timeseries_limit_metric": metrics[0], "adhoc_filters": filters or [],
            **_formats(**(formats or {}))}


def _bar(x_axis: str, metrics: list[dict[str, Any]], groupby: list[str] | None = None,
         filters: list[dict[str, Any]] | None = None, stack: bool = False, month: bool = False) -> dict[str, Any]:
    """Bars by a category, or (`month`) by a month column: one bar and one label per month. On a continuous time
    axis ECharts pads the bars' ends and labels its edge with whatever instant it lands on ('.838ms')."""
    by_month = {"time_grain_sqla": "P1M", "x_axis_time_format": "%b %Y", "tooltipTimeFormat": "%B %Y"} if month else {}
    return {"x_axis": x_axis, "metrics": metrics, "groupby": groupby or [], "adhoc_filters": filters or [],
            "row_limit": 1000, "x_axis_sort_asc": True, "stack": "Stack" if stack else None, "show_legend": True,
            "rich_tooltip": True, "y_axis_format": "SMART_NUMBER", "orientation": "vertical", **by_month}


def _line(x_axis: str, metrics: list[dict[str, Any]], groupby: list[str] | None = None,
          filters: list[dict[str, Any]] | None = None, grain: str = "P1D", y_format: str = "SMART_NUMBER",
          ) -> dict[str, Any]:
    return {"x_axis": x_axis, "time_grain_sqla": grain, "metrics": metrics, "groupby": groupby or [],
            "adhoc_filters": filters or [], "row_limit": 10000, "show_legend": True, "rich_tooltip": True,
            "y_axis_format": y_format, "truncate_metric": True,
            # a day, not smart_date: that labels the axis's last tick by weekday ('Wed 30')
            "x_axis_time_format": "%Y-%m-%d", "tooltipTimeFormat": "%Y-%m-%d"}


def _pie(groupby: str, metric: dict[str, Any]) -> dict[str, Any]:
    return {"groupby": [groupby], "metric": metric, "adhoc_filters": [], "row_limit": 25, "sort_by_metric": True,
            "show_labels": True, "show_legend": True, "label_type": "key_percent", "number_format": "SMART_NUMBER",
            "donut": True, "innerRadius": 40, "outerRadius": 70}


VALUE = _metric("SUM(value_usd)", "Value (USD)")
LATEST_DAY = "frequency = 'daily'"

DATASETS: tuple[Dataset, ...] = (
    Dataset("positions", "as_of"),
    Dataset("data_status", "built_at"),
    Dataset("reconciliation", "reported_at"),
    Dataset("concentration"),
    Dataset("exposure_by_venue"),
    Dataset("portfolio_returns", "period_start"),
    Dataset("realized_pnl", "period_month"),
    Dataset("unrealized_pnl"),
    Dataset("missing_cost_basis", "occurred_at"),
    Dataset("portfolio_var", "as_of"),
    Dataset("var_backtest", "as_of"),
    Dataset("rolling_correlations", "as_of"),
    Dataset("rolling_volatility", "period_start", shared=True),
    Dataset("circuit_breaker", "as_of"),
    # both may carry market data's rows (tenant 'public': price ticks quarantined, a stale market price)
    Dataset("quarantine_by_source", "newest_quarantined_at", shared=True),
    Dataset("open_alerts", "raised_at", shared=True),
    Dataset("prices_daily", "price_date", shared=True),
    Dataset("price_fallbacks", "priced_at", shared=True),
)

CHARTS: tuple[Chart, ...] = (
    # ── Portfolio overview ──
    Chart("total_value", "Total value (USD)", "big_number_total", "positions",
          _big_number(VALUE, "every account, latest prices"), width=4),
    Chart("value_by_asset", "Value by asset", "pie", "positions", _pie("asset", VALUE), width=4),
    Chart("value_by_venue", "Value by venue", "echarts_timeseries_bar", "positions", _bar("venue", [VALUE]), width=4),
    Chart("value_by_account", "Value by account", "echarts_timeseries_bar", "positions",
          _bar("account_id", [VALUE], groupby=["account_kind"], stack=True), width=6),
    Chart("value_over_time", "Portfolio value over time (current holdings)", "echarts_timeseries_line",
          "portfolio_returns", _line("period_start", [_metric("SUM(value_usd)", "Value (USD)")],
                                     groupby=["portfolio_id"], filters=[_where(LATEST_DAY)]), width=6),
    Chart("allocation", "Allocation and concentration (weight, HHI, volatility)", "table", "concentration",
          _grouped(["portfolio_id", "asset"],
                   [_metric("SUM(exposure_usd)", "Exposure (USD)"), _metric("MAX(weight)", "Weight"),
                    _metric("MAX(hhi)", "HHI"), _metric("MAX(vol_30d)", "Volatility 30 d")],
                   formats={"Exposure (USD)": USD, "Weight": PERCENT, "HHI": RATIO, "Volatility 30 d": PERCENT}),
          width=6),
    Chart("exposure_by_custodian", "Exposure by custodian", "echarts_timeseries_bar", "exposure_by_venue",
          _bar("custodian", [VALUE], groupby=["account_kind"], stack=True), width=6),
    # ── Reconciliation ──
    Chart("breaks_by_account", "Breaks by account", "echarts_timeseries_bar", "reconciliation",
          _bar("account_id", [_metric("SUM(CASE WHEN status = 'break' THEN 1 ELSE 0 END)", "Breaks"),
                              _metric("COUNT(*)", "Assets checked")]), width=6),
    Chart("reconciliation_table", "Reported vs computed, largest differences first", "table", "reconciliation",
          _grouped(["account_id", "asset", "status", "reported_at"],
                   [_metric("MAX(ABS(difference))", "|Difference|"), _metric("MAX(reported_quantity)", "Reported"),
                    _metric("MAX(computed_quantity)", "Computed")]), width=6),
    Chart("break_age", "Age of the reported balances (hours)", "table", "reconciliation",
          _grouped(["account_id"], [_metric("SUM(CASE WHEN status = 'break' THEN 1 ELSE 0 END)", "Breaks"),
                                    _metric("MAX(EXTRACT(EPOCH FROM (NOW() - reported_at)) / 3600)",
                                            "Snapshot age (h)")]), width=6),
    Chart("data_status", "Data status: held-back accounts and when the marts were built", "table", "data_status",
          _table(["account_id", "venue", "account_kind", "built_at", "held_back", "held_since", "data_through",
                  "held_reason"], order_by="held_back"), width=6),
    Chart("quarantine_by_account", "Quarantined records by account (0: none)", "echarts_timeseries_bar",
          "quarantine_by_source", _bar("account_id", [_metric("SUM(quarantined_records)", "Quarantined records"),
                                                      _metric("SUM(failed_checks)", "Failed checks")]), width=6),
    Chart("stale_sources", "Stale sources: open stale_source alerts (no results: none)", "table", "open_alerts",
          _table(["subject", "severity", "message", "raised_at", "age_hours"], order_by="age_hours",
                 filters=[_where("kind = 'stale_source'")], formats={"age_hours": ".1f"}), width=6),
    Chart("quarantine_table", "Quarantine by source and reason, with the gate's last verdict", "table",
          "quarantine_by_source",
          _table(["account_id", "raw_table", "reason_class", "quarantined_records", "failed_checks",
                  "checked_columns", "example_reason", "newest_quarantined_at", "rows_checked",
                  "partition_quarantined_share", "held"],
                 order_by=[("quarantined_records", False), ("account_id", True), ("raw_table", True)],
                 formats={"quarantined_records": COUNT, "failed_checks": COUNT, "rows_checked": COUNT,
                          "partition_quarantined_share": ".2%"}), width=12),
    # ── PnL & tax ──
    Chart("realized_by_month", "Realized gains per month, short and long term", "echarts_timeseries_bar",
          "realized_pnl", _bar("period_month", [_metric("SUM(short_term_gain)", "Short term"),
                                                _metric("SUM(long_term_gain)", "Long term")], stack=True,
                               month=True), width=6),
    Chart("realized_by_year", "Realized per tax year", "table", "realized_pnl",
          _grouped(["tax_year"], [_metric("SUM(proceeds)", "Proceeds"), _metric("SUM(cost)", "Cost"),
                                  _metric("SUM(realized_gain)", "Gain"),
                                  _metric("SUM(proceeds_without_basis)", "Proceeds without basis")]), width=6),
    Chart("unrealized", "Unrealized gains by asset", "table", "unrealized_pnl",
          _grouped(["portfolio_id", "asset"],
                   [_metric("SUM(market_value)", "Market value"), _metric("SUM(cost)", "Cost"),
                    _metric("SUM(unrealized_gain)", "Unrealized gain"),
                    _metric("SUM(value_without_basis)", "Value without basis")]), width=6),
    Chart("missing_basis", "Disposals without a cost basis, by reason and asset", "echarts_timeseries_bar",
          "missing_cost_basis", _bar("asset", [_metric("COUNT(*)", "Disposals")], groupby=["reason"], stack=True),
          width=6),
    # ── Risk ──
    Chart("var", "VaR by method, confidence and horizon (USD)", "table", "portfolio_var",
          _grouped(["portfolio_id", "method", "confidence", "horizon_days"],
                   [_metric("MAX(var_usd)", "VaR"), _metric("MAX(cvar_usd)", "CVaR"),
                    _metric("MAX(var_overlapping_usd)", "VaR, 10-day windows"),
                    _metric("MAX(cvar_overlapping_usd)", "CVaR, 10-day windows"),
                    _metric("MAX(var_share)", "Share of value")],
                   formats={"confidence": ".0%", "VaR": USD, "CVaR": USD, "VaR, 10-day windows": USD,
                            "CVaR, 10-day windows": USD, "Share of value": PERCENT}), width=6),
    Chart("var_backtest", "VaR backtest (Kupiec, historical 1-day 99 %)", "table", "var_backtest",
          _table(["portfolio_id", "as_of", "observations", "exceptions", "expected", "p_value", "rejected"],
                 time_format=DAY, formats={"observations": COUNT, "exceptions": COUNT, "expected": ".1f",
                                           "p_value": RATIO}), width=6),
    Chart("correlations_heatmap", "Correlations, last 30 days (latest day)", "heatmap_v2", "rolling_correlations",
          {"x_axis": "asset_a", "groupby": "asset_b", "metric": _metric("AVG(correlation_30d)", "Correlation 30 d"),
           "adhoc_filters": [_where("as_of = (SELECT MAX(as_of) FROM marts.rolling_correlations)")],
           "row_limit": 10000, "linear_color_scheme": "blue_white_yellow", "normalize_across": "heatmap",
           "show_legend": True, "show_values": True, "y_axis_format": ".2f", "sort_x_axis": "alpha_asc",
           "sort_y_axis": "alpha_asc"}, width=6),
    Chart("volatility", "Annualised volatility, 30 days", "echarts_timeseries_line", "rolling_volatility",
          _line("period_start", [_metric("AVG(volatility_30d)", "Volatility 30 d")], groupby=["asset"],
                filters=[_where(LATEST_DAY), _where("asset IN ('BTC', 'ETH', 'SOL')")], y_format=".0%"), width=6),
    Chart("circuit_breaker", "Circuit breaker", "table", "circuit_breaker",
          _table(["portfolio_id", "as_of", "breaker_open", "breaker_since", "breaker_reason", "correlation_shift",
                  "value_usd"], time_format=DAY, formats={"correlation_shift": RATIO, "value_usd": USD}), width=8),
    Chart("open_alerts_count", "Open alerts", "big_number_total", "open_alerts",
          _big_number(_metric("COUNT(alert_id)", "Open alerts"), "open alerts: risk limits, stale sources and prices, "
                                                          "accounts held back"), width=4),
    Chart("open_alerts", "Open alerts, most severe first", "table", "open_alerts",
          _table(["severity", "kind", "subject", "message", "raised_at", "age_hours"],
                 order_by=[("severity_rank", True), ("raised_at", True)], formats={"age_hours": ".1f"}),
          width=12),
    # ── Prices ──
    Chart("reference_prices", "Reference prices (latest day) with provenance", "table", "prices_daily",
          _table(["asset", "price_date", "close_usd", "source_venue", "venues", "n_venues", "deviation", "disputed",
                  "fallback"], order_by="asset", time_format=DAY, formats={"deviation": ".2%"},
                 filters=[_where("price_date = (SELECT MAX(price_date) FROM marts.prices_daily)")]), width=12),
    Chart("btc_eth_close", "BTC and ETH daily close (USD)", "echarts_timeseries_line", "prices_daily",
          _line("price_date", [_metric("MAX(close_usd)", "Close")], groupby=["asset"],
                filters=[_where("asset IN ('BTC', 'ETH')")]), width=6),
    Chart("fallbacks", "Prices not from the preferred venue", "table", "price_fallbacks",
          _grouped(["asset", "frequency", "source_venue", "fallback"], [_metric("COUNT(*)", "Prices")]), width=6),
)

DASHBOARDS: tuple[Dashboard, ...] = (
    Dashboard("portfolio", "Portfolio overview",
              (("total_value", "value_by_asset", "value_by_venue"), ("value_by_account", "value_over_time"),
               ("allocation", "exposure_by_custodian"))),
    Dashboard("reconciliation", "Reconciliation",
              (("breaks_by_account", "reconciliation_table"), ("break_age", "data_status"),
               ("quarantine_by_account", "stale_sources"), ("quarantine_table",))),
    Dashboard("pnl", "PnL & tax", (("realized_by_month", "realized_by_year"), ("unrealized", "missing_basis"))),
    Dashboard("risk", "Risk", (("var", "var_backtest"), ("correlations_heatmap", "volatility"),
                               ("circuit_breaker", "open_alerts_count"), ("open_alerts",))),
    Dashboard("prices", "Prices", (("reference_prices",), ("btc_eth_close", "fallbacks"))),
)

CHARTS_BY_KEY = {chart.key: chart for chart in CHARTS}
DATASETS_BY_MART = {dataset.mart: dataset for dataset in DATASETS}

# ── columns a chart uses ──
_SQL_WORDS = {"sum", "max", "min", "avg", "count", "abs", "case", "when", "then", "else", "end", "and", "or", "in",
              "not", "is", "null", "select", "from", "as", "extract", "epoch", "now", "distinct", "true", "false",
              "marts"}
_COLUMN_KEYS = ("x_axis", "groupby", "all_columns", "columns")


def _identifiers(sql: str) -> set[str]:
    sql = re.sub(r"'[^']*'", "", sql)  # string literals are not columns
    sql = re.sub(r"\bmarts\.\w+", "", sql)  # nor a subquery's table
    return {word for word in re.findall(r"[a-z_][a-z0-9_]*", sql.lower()) if word not in _SQL_WORDS}


def chart_columns(chart: Chart) -> set[str]:
    """Every column the chart's query names: axes, groupings, raw columns, ordering, and the identifiers in its
    SQL metrics and filters."""
    found: set[str] = set()
    params = chart.params
    for key in _COLUMN_KEYS:
        value = params.get(key)
        found |= {value} if isinstance(value, str) else set(value or ())
    for order in params.get("order_by_cols", ()):
        found.add(order.split('"')[1])
    found |= set(params.get("column_config", {})) - {m["label"] for m in params.get("metrics", ())}
    metrics = [*params.get("metrics", ()), *([params["metric"]] if "metric" in params else [])]
    for item in [*metrics, *params.get("adhoc_filters", ())]:
        found |= _identifiers(item["sqlExpression"])
    return found


def datasets_of(dashboard: Dashboard) -> list[str]:
    """The marts a dashboard's charts read, in first-use order (its Dagster asset's deps)."""
    return list(dict.fromkeys(CHARTS_BY_KEY[key].mart for key in dashboard.chart_keys))


# ── rendering the bundle ──
_DTTM_TYPES = ("date", "timestamp")


def superset_type(dbt_type: str) -> str:
    """dbt's data_type as Superset shows it (TIMESTAMP WITH TIME ZONE for timestamptz)."""
    normal = {"timestamptz": "timestamp with time zone"}.get(dbt_type.strip().lower(), dbt_type.strip().lower())
    return normal.upper()


def dataset_yaml(dataset: Dataset, columns: list[tuple[str, str]], description: str | None) -> dict[str, Any]:
    return {
        "table_name": dataset.mart, "main_dttm_col": dataset.dttm, "description": description,
        "default_endpoint": None, "offset": 0, "cache_timeout": None, "schema": "marts", "sql": None,
        "params": None, "template_params": None, "filter_select_enabled": True, "fetch_values_predicate": None,
        "extra": None, "normalize_columns": False, "always_filter_main_dttm": False, "uuid": dataset.uuid,
        "metrics": [{"metric_name": "count", "verbose_name": "COUNT(*)", "metric_type": "count",
                     "expression": "COUNT(*)", "description": None, "d3format": None, "extra": None,
                     "warning_text": None}],
        "columns": [{"column_name": name, "verbose_name": None,
                     "is_dttm": superset_type(kind).lower().startswith(_DTTM_TYPES), "is_active": True,
                     "type": superset_type(kind), "advanced_data_type": None, "groupby": True, "filterable": True,
                     "expression": None, "description": None, "python_date_format": None, "extra": None}
                    for name, kind in columns],
        "version": BUNDLE_VERSION, "database_uuid": DATABASE_UUID,
    }


def chart_yaml(chart: Chart) -> dict[str, Any]:
    dataset = DATASETS_BY_MART[chart.mart]
    return {"slice_name": chart.title, "description": None, "certified_by": None, "certification_details": None,
            "viz_type": chart.viz, "params": {"viz_type": chart.viz, **chart.params}, "query_context": None,
            "cache_timeout": None, "uuid": chart.uuid, "version": BUNDLE_VERSION, "dataset_uuid": dataset.uuid}


def dashboard_yaml(dashboard: Dashboard) -> dict[str, Any]:
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": dashboard.title}},
    }
    chart_id = 0
    for row_no, row in enumerate(dashboard.rows, start=1):
        row_id = f"ROW-{row_no}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for key in row:
            chart = CHARTS_BY_KEY[key]
            chart_id += 1  # any number: the import maps meta.uuid to the chart's real id
            node_id = f"CHART-{key}"
            position[row_id]["children"].append(node_id)
            position[node_id] = {"type": "CHART", "id": node_id, "children": [],
                                 "parents": ["ROOT_ID", "GRID_ID", row_id],
                                 "meta": {"width": chart.width, "height": 50, "chartId": chart_id,
                                          "uuid": chart.uuid, "sliceName": chart.title}}
    return {"dashboard_title": dashboard.title, "description": None, "css": "", "slug": dashboard.slug,
            "certified_by": None, "certification_details": None, "published": True, "uuid": dashboard.uuid,
            "position": position,
            "metadata": {"color_scheme": "supersetColors", "refresh_frequency": 0, "expanded_slices": {},
                         "label_colors": {}, "timed_refresh_immune_slices": [], "cross_filters_enabled": False,
                         "native_filter_configuration": [], "shared_label_colors": [], "color_scheme_domain": []},
            "version": BUNDLE_VERSION}


def database_yaml(sqlalchemy_uri: str) -> dict[str, Any]:
    return {"database_name": DATABASE_NAME, "sqlalchemy_uri": sqlalchemy_uri, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_file_upload": False,
            # per_user_caching: a cached result is never served to another user — two tenants' viewers send
            # the same SQL when only their warehouse login (the connection mutator's role) tells them apart
            "extra": {"allows_virtual_table_explore": True, "per_user_caching": True},
            "impersonate_user": False, "uuid": DATABASE_UUID, "version": BUNDLE_VERSION}


def file_name(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")


@dataclass
class Bundle:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # relative path → YAML document


def render_bundle(model_columns: dict[str, list[tuple[str, str]]], descriptions: dict[str, str | None],
                  sqlalchemy_uri: str) -> Bundle:
    """Every file of the import bundle. `model_columns`: mart → [(column, dbt data_type)] from the dbt YAML."""
    bundle = Bundle()
    bundle.files["metadata.yaml"] = {"version": BUNDLE_VERSION, "type": "Dashboard",
                                     "timestamp": "2026-12-04T00:00:00+00:00"}
    bundle.files[f"databases/{file_name(DATABASE_NAME)}.yaml"] = database_yaml(sqlalchemy_uri)
    for dataset in DATASETS:
        bundle.files[f"datasets/{file_name(DATABASE_NAME)}/{dataset.mart}.yaml"] = dataset_yaml(
            dataset, model_columns[dataset.mart], descriptions.get(dataset.mart))
    for chart in CHARTS:
        bundle.files[f"charts/{chart.key}.yaml"] = chart_yaml(chart)
    for dashboard in DASHBOARDS:
        bundle.files[f"dashboards/{dashboard.slug}.yaml"] = dashboard_yaml(dashboard)
    return bundle


def rls_clause(tenant: str, dataset: Dataset) -> str:
    """The Superset row-level filter of a tenant's viewers on a dataset."""
    if dataset.shared:
        return f"tenant_id IN ('{tenant}', '{PUBLIC_TENANT}')"
    return f"tenant_id = '{tenant}'"
