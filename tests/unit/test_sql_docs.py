"""The documented SQL surface (pipelines/services/sql_docs.py): every mart and every mart column carries a
description and a type in its dbt YAML, and docs/sql.md is what the YAML generates today. That the YAML's columns
and types are the built marts' own, and that every example runs, is checked on a built warehouse at the end of
tests/integration/test_pipeline.py."""

from __future__ import annotations

from pipelines.services.sql_docs import (
    SQL_MD,
    Column,
    Mart,
    base_type,
    read_marts,
    render,
    sql_blocks,
    sql_statements,
    undocumented,
)


def test_every_mart_and_mart_column_is_described_with_a_type_and_a_grain() -> None:
    marts = read_marts()
    assert len(marts) >= 25  # every folder under models/marts/ was read
    assert undocumented(marts) == []


def test_a_missing_description_type_or_grain_is_reported() -> None:
    bare = Mart("m", "f", None, None, "table", (Column("a", None, "A."), Column("b", "text", None)), "select 1;")
    assert undocumented([bare]) == ["m: no description", "m: no grain", "m.a: no data_type", "m.b: no description"]


def test_docs_sql_md_is_generated_from_the_yaml_and_up_to_date() -> None:
    """After changing a mart's YAML: .venv/bin/python -m pipelines.services.sql_docs"""
    marts = read_marts()
    assert SQL_MD.read_text() == render(marts), "docs/sql.md is stale: python -m pipelines.services.sql_docs"
    assert len(sql_blocks(SQL_MD.read_text())) == len(marts)  # one example per mart


def test_sql_blocks_are_read_in_order_and_other_blocks_left_out() -> None:
    text = "a\n```sql\nselect 1;\n```\n```bash\nls\n```\n```sql\nselect 2\nfrom t;\n```\n"
    assert sql_blocks(text) == ["select 1;", "select 2\nfrom t;"]


def test_sql_statements_drop_comments_and_split_on_semicolons() -> None:
    block = "select * from marts.a;   -- the first\nselect x,\n  y from marts.b\nwhere y = 1;\n-- nothing\n"
    assert sql_statements(block) == ["select * from marts.a", "select x, y from marts.b where y = 1"]


def test_types_compare_without_precision_and_by_postgresql_names() -> None:
    assert base_type("numeric(38,18)") == base_type("numeric") == "numeric"
    assert base_type("timestamptz") == base_type("timestamp with time zone") == "timestamp with time zone"
    assert base_type("Double Precision") == "double precision"
