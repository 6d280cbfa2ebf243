"""SQL that PostgreSQL accepts is analysed however deep it nests: expressions nested
past Python's default recursion limit (``abs(`` 400 deep, ``(1+`` 900 deep) go
through lint, ``plan --print``, ``up --sql`` and dry-run (with and without lint)
with the exit code of any other SQL, never 70."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.sql.parse import parse_text
from tests.helpers import run_cli

DEEP = {
    "abs": "SELECT " + "abs(" * 400 + "1" + ")" * 400,
    "plus": "SELECT " + "(1+" * 900 + "1" + ")" * 900,
    "coalesce": "SELECT " + "coalesce(" * 500 + "1" + ", 2)" * 500,
}


@pytest.fixture
def deep_project(tmp_path: Path) -> Path:
    migrations = tmp_path / "database" / "migrations"
    migrations.mkdir(parents=True)
    for version, (name, select) in enumerate(DEEP.items(), start=1):
        (migrations / f"{version:03d}_{name}.up.sql").write_text(
            f"CREATE TABLE t_{name} AS {select} AS value;\n"
        )
        (migrations / f"{version:03d}_{name}.down.sql").write_text(f"DROP TABLE t_{name};\n")
    return tmp_path


@pytest.mark.parametrize("name", DEEP)
def test_the_parse_tree_of_deep_sql_is_whole(name: str) -> None:
    statements = parse_text(DEEP[name] + ";")
    assert statements is not None and len(statements) == 1
    assert statements[0].kind == "SelectStmt"


def test_lint_and_up_sql_analyse_deep_sql(deep_project: Path, database_url: str) -> None:
    lint = run_cli("lint", cwd=deep_project, env={"DATABASE_URL": None})
    assert lint.code == 0, lint.output
    assert "in 6 file(s)" in lint.stdout
    up_sql = run_cli("--database-url", database_url, "up", "--sql", cwd=deep_project)
    assert up_sql.code == 0, up_sql.output
    assert up_sql.stdout.count("abs(") >= 400


@pytest.mark.parametrize("name", DEEP)
def test_plan_print_plans_deep_sql(tmp_path: Path, name: str) -> None:
    (tmp_path / "database" / "migrations").mkdir(parents=True)
    change = tmp_path / "change.sql"
    change.write_text(f"CREATE TABLE t AS {DEEP[name]} AS value;\n")
    result = run_cli("plan", "--print", str(change), cwd=tmp_path, env={"DATABASE_URL": None})
    assert result.code == 0, result.output
    assert "CREATE TABLE t AS SELECT" in result.stdout


def test_dry_run_rehearses_deep_sql(deep_project: Path) -> None:
    for extra in ((), ("--no-lint",)):
        result = run_cli("dry-run", *extra, cwd=deep_project, env={"DATABASE_URL": None})
        assert result.code == 0, result.output
        assert "3 migration(s) rehearsed, 0 failed" in result.stdout
