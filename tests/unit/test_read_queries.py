"""The reads bench's queries (pipelines/domain/read_queries.py): every chart of every dashboard rendered once, each
filtered to the tenant as Superset's row-level filter does, and the README's SELECT examples found with the line
they are on."""

from __future__ import annotations

from pathlib import Path

from pipelines.domain.dashboards import CHARTS_BY_KEY, DASHBOARDS, DATASETS_BY_MART, rls_clause
from pipelines.domain.read_queries import chart_sql, dashboard_queries, readme_selects

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_chart_of_every_dashboard_once_with_the_tenant_filter():
    queries = dashboard_queries("acme")
    assert [q.name for q in queries] == [f"{d.slug}/{k}" for d in DASHBOARDS for k in d.chart_keys]
    for query in queries:
        chart = CHARTS_BY_KEY[query.name.split("/")[1]]
        assert f"FROM marts.{chart.mart} WHERE ({rls_clause('acme', DATASETS_BY_MART[chart.mart])})" in query.sql
        assert query.sql.rstrip().split()[-2] == "LIMIT"


def test_a_chart_renders_its_axis_grain_metrics_filters_and_order():
    sql = chart_sql(CHARTS_BY_KEY["realized_by_month"], "acme")
    assert sql == ("SELECT DATE_TRUNC('month', period_month) AS period_month, SUM(short_term_gain) AS \"Short term\", "
                   "SUM(long_term_gain) AS \"Long term\" FROM marts.realized_pnl WHERE (tenant_id = 'acme') "
                   "GROUP BY DATE_TRUNC('month', period_month) ORDER BY \"Short term\" DESC LIMIT 1000")
    sql = chart_sql(CHARTS_BY_KEY["stale_sources"], "acme")
    assert sql == ("SELECT subject, severity, message, raised_at, age_hours FROM marts.open_alerts "
                   "WHERE (tenant_id IN ('acme', 'public')) AND (kind = 'stale_source') ORDER BY age_hours DESC "
                   "LIMIT 200")


def test_readme_selects_with_their_line_and_without_writes_or_placeholders():
    text = "intro\n```sql\nselect * from marts.positions;   -- a comment; with a semicolon\n" \
           "insert into ops.cost_basis values (1);\nselect a,\n  b from marts.x where c = '<id>';\n" \
           "select count(*)\n  from marts.ledger;\n```\n"
    found = readme_selects(text)
    assert [(q.name, q.sql) for q in found] == [("readme:3", "select * from marts.positions"),
                                                ("readme:7", "select count(*) from marts.ledger")]


def test_the_readme_has_select_examples_to_time():
    names = {q.sql.split(" from ")[1].split()[0] for q in readme_selects(README.read_text())}
    assert {"marts.positions", "marts.ledger", "marts.missing_cost_basis"} <= names
