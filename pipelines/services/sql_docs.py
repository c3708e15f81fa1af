"""The documented SQL surface: every mart of dbt_project/models/marts/<folder>/ read from its YAML (description,
grain, columns with type and description, an example query) and written as docs/sql.md. Generated, never edited
by hand, so the page cannot drift from the models: tests/unit/test_sql_docs.py regenerates it and compares, and
the pipeline's tests check that the YAML's columns and types are the built marts' own and run every example.

    .venv/bin/python -m pipelines.services.sql_docs      # rewrite docs/sql.md after changing a mart's YAML
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "dbt_project"
SQL_MD = ROOT / "docs" / "sql.md"
SCHEMA = "marts"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str | None
    description: str | None


@dataclass(frozen=True)
class Mart:
    name: str
    folder: str
    description: str | None
    grain: str | None
    materialized: str
    columns: tuple[Column, ...]
    example: str


def _text(value: Any) -> str | None:
    """A YAML description folded to one line; None when missing or blank."""
    return " ".join(str(value).split()) or None if value is not None else None


def _tests(node: dict[str, Any]) -> list[Any]:
    return list(node.get("data_tests") or node.get("tests") or [])


def grain_of(model: dict[str, Any]) -> str | None:
    """What one row is: meta.grain, else the columns of its unique_combination test, else its unique column."""
    meta = (model.get("config") or {}).get("meta") or model.get("meta") or {}
    if meta.get("grain"):
        return str(meta["grain"])
    for test in _tests(model):
        if isinstance(test, dict) and "unique_combination" in test:
            return "one row per " + ", ".join(test["unique_combination"]["arguments"]["columns"])
    for column in model.get("columns") or []:
        if "unique" in _tests(column):
            return f"one row per {column['name']}"
    return None


def materialization(sql_path: Path) -> str:
    """The model's own config(materialized=…) if it sets one; marts are tables (dbt_project.yml) otherwise."""
    found = re.search(r"materialized\s*=\s*['\"](\w+)['\"]", sql_path.read_text()) if sql_path.exists() else None
    return found.group(1) if found else "table"


def default_example(name: str, columns: tuple[Column, ...]) -> str:
    shown = ", ".join(c.name for c in columns[:6]) or "*"
    return f"select {shown}\nfrom {SCHEMA}.{name}\nlimit 10;"


def read_marts(project_dir: Path = PROJECT) -> list[Mart]:
    """Every model documented in models/marts/<folder>/_<folder>.yml, by folder and name."""
    marts = []
    for path in sorted((project_dir / "models" / "marts").glob("*/_*.yml")):
        folder = path.parent.name
        for model in yaml.safe_load(path.read_text()).get("models") or []:
            columns = tuple(Column(c["name"], c.get("data_type"), _text(c.get("description")))
                            for c in model.get("columns") or [])
            meta = (model.get("config") or {}).get("meta") or model.get("meta") or {}
            example = str(meta["example"]).strip() if meta.get("example") else default_example(model["name"], columns)
            marts.append(Mart(model["name"], folder, _text(model.get("description")), grain_of(model),
                              materialization(path.parent / f"{model['name']}.sql"), columns, example))
    return sorted(marts, key=lambda m: (m.folder, m.name))


def undocumented(marts: list[Mart]) -> list[str]:
    """What a reader of docs/sql.md would miss: a mart without a description or grain, a column without a type
    or description."""
    problems = []
    for mart in marts:
        problems += [f"{mart.name}: no {what}" for what, value in (("description", mart.description),
                                                                  ("grain", mart.grain),
                                                                  ("columns", mart.columns)) if not value]
        problems += [f"{mart.name}.{c.name}: no {what}" for c in mart.columns
                     for what, value in (("data_type", c.data_type), ("description", c.description)) if not value]
    return problems


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def render(marts: list[Mart]) -> str:
    """docs/sql.md: how to connect, the conventions, then each mart with its grain, columns and an example."""
    lines = [
        "# The SQL surface: the marts",
        "",
        "<!-- Generated from dbt_project/models/marts/*/_*.yml by `.venv/bin/python -m pipelines.services.sql_docs`."
        " Do not edit: change the YAML and regenerate (tests/unit/test_sql_docs.py fails when this file is stale)."
        " -->",
        "",
        "Every table and view below lives in the schema `marts` of the warehouse and is rebuilt by each pipeline "
        "run (`coinbook run`, or the Dagster schedules). Connect with your own login (see the README's *SQL access* "
        "section: `coinbook users add`), or as the pipeline with "
        "`psql \"$(coinbook warehouse url --show-password)\"`, and query them read-only.",
        "",
        "Conventions:",
        "- Every row carries `tenant_id` (the client). Market data (prices, returns, volatility) belongs to no "
        "client: its `tenant_id` is `public`.",
        "- Quantities are in the asset itself (`numeric`, up to 18 decimals: 0.5 BTC is `0.5`). Amounts named "
        "`*_usd`, `proceeds`, `cost`, `gain`, `market_value` are US dollars. Weights, shares, returns, volatilities "
        "and `deviation` are fractions (0.05 = 5 %).",
        "- Timestamps are `timestamptz` in UTC; dates are UTC dates. `tax_year` is the UTC calendar year (the tax "
        "report, `coinbook report tax`, uses the tenant's time zone).",
        "- Money is `numeric`, never floating point; statistics (returns, volatility, correlation) are "
        "`double precision`.",
        "",
        "| mart | folder | kind | grain |",
        "|---|---|---|---|",
    ]
    lines += [f"| [`{m.name}`](#marts{m.name}) | {m.folder} | {m.materialized} | {_cell(m.grain)} |"
              for m in marts]
    for mart in marts:
        lines += ["", f"## marts.{mart.name}", "", mart.description or "", "",
                  f"Grain: {mart.grain}. {_materialized(mart.materialized)} in "
                  f"`dbt_project/models/marts/{mart.folder}/`.", "",
                  "| column | type | description |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.data_type} | {_cell(c.description)} |" for c in mart.columns]
        lines += ["", "```sql", mart.example, "```"]
    return "\n".join(lines) + "\n"


def sql_blocks(markdown: str) -> list[str]:
    """The ```sql blocks of a Markdown text (the README's, docs/sql.md's examples), in order."""
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", markdown, flags=re.S)]


def sql_statements(block: str) -> list[str]:
    """The statements of a SQL block, `--` comments dropped (the README's blocks have no `--` or `;` in literals)."""
    text = "\n".join(line.split("--", 1)[0] for line in block.splitlines())
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


def base_type(data_type: str) -> str:
    """A column type as compared between the YAML and the catalog: lower case, no length or precision, and
    PostgreSQL's own names ('numeric(38,18)' → 'numeric', 'timestamptz' → 'timestamp with time zone')."""
    name = re.sub(r"\(.*?\)", "", data_type).strip().lower()
    return {"timestamptz": "timestamp with time zone", "int": "integer", "int4": "integer", "int8": "bigint",
            "float8": "double precision", "bool": "boolean"}.get(name, name)


def write_sql_docs(project_dir: Path = PROJECT, out: Path = SQL_MD) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(read_marts(project_dir)))
    return out


def _materialized(kind: str) -> str:
    """'A table', 'A view', 'A table built incrementally' (dbt's incremental: a run writes only what changed)."""
    return "A table built incrementally" if kind == "incremental" else f"A {kind}"


if __name__ == "__main__":
    problems = undocumented(read_marts())
    if problems:
        sys.exit("undocumented:\n  " + "\n  ".join(problems))
    print(write_sql_docs())
