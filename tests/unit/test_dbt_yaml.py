"""The dbt project's YAML says what it means. Column entries are written as flow mappings (`- {name: x,
description: …}`), where an unquoted comma ends the value: "The slice of the disposal (1, 2, …)." became the
description "The slice of the disposal (1" and two stray keys, one of them the integer 2 — which dbt wrote into
its partial-parse state and could not read back (msgpack: "int is not allowed for map key"), so every dbt
invocation parsed the whole project again (~3–4 s per dbt step), and 40 column descriptions (docs/sql.md, the
auditors' reference) lost their second half."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
COLUMN_KEYS = {"name", "data_type", "description", "data_tests", "tests", "meta", "config", "quote", "constraints",
               "tags", "granularity", "docs"}


def _columns(node: Any) -> list[dict[str, Any]]:
    """Every column entry of models, seeds, snapshots and source tables, wherever it sits in the file."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "columns" and isinstance(value, list):
                found += [c for c in value if isinstance(c, dict)]
            else:
                found += _columns(value)
    elif isinstance(node, list):
        for item in node:
            found += _columns(item)
    return found


def test_every_column_entry_has_only_column_keys() -> None:
    files = [p for p in PROJECT.rglob("*.yml") if "target" not in p.parts and "dbt_packages" not in p.parts]
    columns = {(str(p.relative_to(PROJECT)), i): c for p in files
               for i, c in enumerate(_columns(yaml.safe_load(p.read_text()) or {}))}
    assert len(columns) > 300  # the walk finds the project's columns
    strays = {where: sorted(map(repr, set(c) - COLUMN_KEYS)) for where, c in columns.items()
              if not set(c) <= COLUMN_KEYS}
    assert not strays, f"unquoted commas or colons in a flow mapping (quote the description): {strays}"
