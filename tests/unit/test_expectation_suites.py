"""Every raw table has a well-formed suite that covers its columns (no database, no GX import)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expectations.suites import KEY_COLUMNS, SUITES, suite_for

MIGRATIONS = Path(__file__).resolve().parents[2] / "warehouse" / "migrations"
GX_EXPECTATIONS = {
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex", "expect_table_columns_to_match_set",
    "expect_compound_columns_to_be_unique", "expect_column_pair_values_a_to_be_greater_than_b",
}


def _raw_tables() -> dict[str, list[str]]:
    """Columns of every raw.* table, read from the migrations (the suites must follow them)."""
    sql = "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("V*.sql")))
    tables = {}
    for name, body in re.findall(r"create table if not exists (raw\.\w+) \((.*?)\n\);", sql, re.S):
        columns = [line.split()[0] for line in body.splitlines()
                   if line.strip() and not line.strip().startswith(("primary key", "--", "unique", "foreign"))]
        tables[name] = columns
    return tables


def test_one_suite_per_raw_table_with_the_exact_column_set() -> None:
    tables = _raw_tables()
    assert set(SUITES) == set(tables)
    for name, columns in tables.items():
        assert list(SUITES[name].columns) == columns, name


@pytest.mark.parametrize("raw_table", sorted(SUITES))
def test_suite_is_well_formed_and_covers_every_typed_column(raw_table: str) -> None:
    suite = suite_for(raw_table)
    rules = [*suite.row_rules, *suite.table_rules]
    assert all(r.expectation in GX_EXPECTATIONS for r in rules)
    assert len({r.check_name for r in suite.row_rules}) == len(suite.row_rules)  # check names identify rules
    row_columns = {r.column for r in suite.row_rules} | {r.kwargs.get("column_A") for r in suite.row_rules}
    typed = set(suite.columns) - set(KEY_COLUMNS) - {"payload", "record_hash", "run_id", "ingested_at"}
    uncovered = typed - row_columns
    # identifiers the venue supplies verbatim are not judged row by row
    assert uncovered <= {"base_asset", "quote_asset", "order_id", "is_maker", "network", "address", "txid"}, uncovered
    assert all(r.reason for r in rules)
    assert any(r.expectation == "expect_compound_columns_to_be_unique" for r in suite.table_rules)


def test_unknown_table_has_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"no expectation suite for raw\.nope"):
        suite_for("raw.nope")
