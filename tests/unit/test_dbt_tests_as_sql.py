"""A dbt test run without dbt (services/dbt_reuse.dbt_test_query, dbt_test_status) is the query dbt itself runs and gets
dbt's verdict: the query is compared with dbt's own `default__get_test_sql` macro, rendered from dbt's package."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from pipelines.services.dbt_reuse import dbt_test_query as query_of
from pipelines.services.dbt_reuse import dbt_test_status as status_of

COMPILED = 'select severity from "coinbook"."marts"."open_alerts" where severity not in (\'info\', \'warning\')'


def dbt_macro_sql(main_sql: str, fail_calc: str, warn_if: str, error_if: str, limit: int | None) -> str:
    import dbt.include.global_project as global_project

    source = (Path(global_project.__file__).parent / "macros/materializations/tests/helpers.sql").read_text()
    body = re.search(r"{% macro default__get_test_sql\(.*?\) -%}(.*?){%- endmacro %}", source, re.S)
    assert body, "dbt's get_test_sql macro moved"
    return jinja2.Template(body.group(1)).render(main_sql=main_sql, fail_calc=fail_calc, warn_if=warn_if,
                                                 error_if=error_if, limit=limit)


def squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("config", [
    {},                                                              # dbt's defaults
    {"fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0"},
    {"fail_calc": "sum(n)", "warn_if": ">10", "error_if": ">100", "limit": 50},
])
def test_the_query_is_dbts_own(config: dict[str, object]) -> None:
    expected = dbt_macro_sql(COMPILED, str(config.get("fail_calc", "count(*)")), str(config.get("warn_if", "!= 0")),
                             str(config.get("error_if", "!= 0")), config.get("limit"))  # type: ignore[arg-type]
    assert squeeze(query_of(COMPILED, config)) == squeeze(expected)


@pytest.mark.parametrize(("severity", "should_warn", "should_error", "status"), [
    ("error", False, False, "pass"),
    ("error", True, True, "fail"),
    ("ERROR", True, False, "warn"),   # warn_if met, error_if not
    ("warn", True, True, "warn"),     # a warn-severity test never fails
    ("warn", False, False, "pass"),
])
def test_the_verdict_is_dbts(severity: str, should_warn: bool, should_error: bool, status: str) -> None:
    assert status_of(severity, should_warn, should_error) == status
