"""queries/*.sql: one text for Athena (Trino) and DuckDB.

Trino's side is checked by a Trino-dialect parser; DuckDB's by running each file over a small
dataset (the functional tests compare their answers with plain computations at full size).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from sla_digest.dataset import rebuild_day
from sla_digest_cli.query import QueryError, run_query
from tests.unit.test_dataset import PAGE_1, PAGE_2, archived_day

ROOT = Path(__file__).resolve().parents[2]
QUERIES = sorted((ROOT / "queries").glob("*.sql"))


def test_the_three_questions_of_the_design_are_shipped() -> None:
    assert {path.stem for path in QUERIES} >= {
        "sla_compliance_by_inbox_day",
        "p90_first_response_by_agent_week",
        "breaches_by_hour_of_week",
    }


@pytest.mark.parametrize("path", QUERIES, ids=lambda path: path.name)
def test_each_query_parses_as_trino_with_only_functions_trino_has(path: Path) -> None:
    # GIVEN the file's text WHEN a Trino-dialect parser reads it
    [tree] = sqlglot.parse(path.read_text(), read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    # THEN it is one SELECT over the events table, and every function is a known one
    assert isinstance(tree, exp.Select)
    assert "events" in {table.name for table in tree.find_all(exp.Table)}
    assert [node.sql() for node in tree.find_all(exp.Anonymous)] == []
    # AND it names an account and a range of days as literals (Athena's partition projection)
    where = " ".join(node.sql(dialect="trino") for node in tree.find_all(exp.Where))
    assert "account_id = '" in where
    assert "BETWEEN '" in where


@pytest.mark.parametrize("path", QUERIES, ids=lambda path: path.name)
def test_each_query_runs_in_duckdb(path: Path, tmp_path: Path) -> None:
    # GIVEN a small archived day with its dataset
    rebuild_day(archived_day(tmp_path, [PAGE_1, PAGE_2]))
    # WHEN the file runs THEN DuckDB answers with at least one row
    result = run_query(tmp_path, path.read_text())
    assert result.rows
    assert len(set(result.columns)) == len(result.columns)


def test_duckdb_dialect_that_trino_lacks_would_be_caught() -> None:
    # GIVEN DuckDB-only syntax (a :: cast and a DuckDB function) THEN the checks above reject it
    [tree] = sqlglot.parse("SELECT list_value(1)::VARCHAR FROM events", read="trino")
    assert [node.sql() for node in tree.find_all(exp.Anonymous)] != []


def test_a_query_over_a_missing_column_is_one_query_error(tmp_path: Path) -> None:
    with pytest.raises(QueryError, match=r"^query failed: Binder Error: .*nope"):
        run_query(tmp_path, "SELECT nope FROM events")
