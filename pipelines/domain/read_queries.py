"""The queries readers run, as SQL text: each dashboard chart's query rendered from its definition
(pipelines/domain/dashboards.py) in the shape Superset sends it, and the SELECT examples of the README. Used by
bench/bench_reads.py (issue 17 §3: p95 per query at scale) and its test.

A chart's SQL follows Superset 6's Postgres compilation of its params: the selected or grouped columns (a time
grain as DATE_TRUNC), the metrics with their labels, the tenant's row-level filter (`rls_clause`, which Superset adds
for a tenant viewer) and the chart's ad-hoc filters in the WHERE, GROUP BY, the order (a table's order columns, else
the first metric descending) and the row limit. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.domain.dashboards import CHARTS, DASHBOARDS, DATASETS_BY_MART, Chart, rls_clause

GRAINS = {"P1D": "day", "P1W": "week", "P1M": "month", "P1Y": "year"}  # Superset's ISO grains on Postgres


@dataclass(frozen=True)
class ReadQuery:
    name: str  # dashboard/chart, or readme:<line>
    sql: str


def _quote(label: str) -> str:
    return '"' + label.replace('"', '""') + '"'


def _column(name: str, grain: str | None = None) -> str:
    if grain:
        return f"DATE_TRUNC('{GRAINS[grain]}', {name}) AS {name}"
    return name


def _metrics(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [*params.get("metrics", ()), *([params["metric"]] if "metric" in params else [])]


def _where(chart: Chart, tenant: str) -> str:
    clauses = [rls_clause(tenant, DATASETS_BY_MART[chart.mart])]
    clauses += [f["sqlExpression"] for f in chart.params.get("adhoc_filters", ())]
    return " AND ".join(f"({c})" for c in clauses)


def _raw_table(chart: Chart, tenant: str) -> str:
    params = chart.params
    orders = [(o.split('"')[1], "true" in o) for o in params.get("order_by_cols", ())]
    order = ", ".join(f"{col} {'ASC' if asc else 'DESC'}" for col, asc in orders)
    return (f"SELECT {', '.join(params['all_columns'])} FROM marts.{chart.mart} WHERE {_where(chart, tenant)}"
            + (f" ORDER BY {order}" if order else "") + f" LIMIT {params['row_limit']}")


def chart_sql(chart: Chart, tenant: str) -> str:
    """The SELECT a tenant's viewer sends for `chart`."""
    params = chart.params
    if params.get("query_mode") == "raw":
        return _raw_table(chart, tenant)
    grain = params.get("time_grain_sqla")
    dims: list[str] = []
    if params.get("x_axis"):
        dims.append(params["x_axis"])
    groupby = params.get("groupby") or []
    dims += [groupby] if isinstance(groupby, str) else list(groupby)
    selected = [_column(d, grain if i == 0 and "x_axis" in params else None) for i, d in enumerate(dims)]
    metrics = _metrics(params)
    selected += [f"{m['sqlExpression']} AS {_quote(m['label'])}" for m in metrics]
    sql = f"SELECT {', '.join(selected)} FROM marts.{chart.mart} WHERE {_where(chart, tenant)}"
    if dims:
        sql += " GROUP BY " + ", ".join(_column(d, grain).split(" AS ")[0] if i == 0 and "x_axis" in params
                                        else d for i, d in enumerate(dims))
        sql += f" ORDER BY {_quote(metrics[0]['label'])} DESC"
    return sql + f" LIMIT {params.get('row_limit', 50000)}"


def dashboard_queries(tenant: str) -> list[ReadQuery]:
    """Every chart of every dashboard, as `tenant`'s viewer sends it."""
    charts = {chart.key: chart for chart in CHARTS}
    return [ReadQuery(f"{board.slug}/{key}", chart_sql(charts[key], tenant))
            for board in DASHBOARDS for key in board.chart_keys]


_FENCE = re.compile(r"```sql\n(.*?)```", re.S)


def readme_selects(markdown: str) -> list[ReadQuery]:
    """The README's example SELECTs (```sql blocks), one per statement, named by the README line; writes and
    statements with placeholders (`<...>`, `…`) are not reads to time."""
    found: list[ReadQuery] = []
    for block in _FENCE.finditer(markdown):
        first_line = markdown.count("\n", 0, block.start(1)) + 1
        text = "\n".join(line.split("--")[0] for line in block.group(1).splitlines())
        start = 0
        for statement in text.split(";"):
            lead = len(statement) - len(statement.lstrip())
            line = first_line + text.count("\n", 0, start + lead)
            start += len(statement) + 1
            body = " ".join(statement.split())
            if not body.lower().startswith("select") or "<" in body or "…" in body:
                continue
            found.append(ReadQuery(f"readme:{line}", body))
    return found
