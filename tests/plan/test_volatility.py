"""The planner judges defaults exactly as the linter does (one volatility table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config import Settings
from migrator.lint import run_lint
from migrator.plan.sql_text import parse_statement
from migrator.plan.volatility import is_volatile
from tests.plan.scenario import Project


def _default(expression: str) -> object:
    statement = parse_statement(f"ALTER TABLE t ADD COLUMN c text DEFAULT {expression}")
    (command,) = statement.cmds
    (constraint,) = command.def_.constraints
    return constraint.raw_expr


@pytest.mark.parametrize(
    ("expression", "volatile"),
    [
        ("0", False),
        ("'x'::text", False),
        ("now()", False),
        ("current_timestamp", False),
        ("lower('A')", False),
        ("gen_random_uuid()", True),
        ("clock_timestamp()", True),
        ("random()", True),
        ("my_function()", True),
        ("(SELECT 1)", True),
    ],
)
def test_volatility_of_defaults(expression: str, volatile: bool) -> None:
    assert is_volatile(_default(expression)) is volatile


@pytest.mark.parametrize(
    ("declared", "planned"),
    [("IMMUTABLE", "pass through"), ("STABLE", "pass through"), ("VOLATILE", "add column")],
)
def test_lint_and_plan_agree_on_a_user_function_the_migrations_declare(
    tmp_path: Path, declared: str, planned: str
) -> None:
    """Issue 14, one model: ``DEFAULT one()`` after ``CREATE FUNCTION one() ...
    IMMUTABLE`` is catalog only for the linter and passes through the planner; after a
    VOLATILE one both see a per-row default (the linter flags it, the planner fills it
    in batches)."""
    base = (
        "CREATE TABLE t (id serial PRIMARY KEY);\n"
        f"CREATE FUNCTION one() RETURNS int LANGUAGE sql {declared} AS 'SELECT 1';\n"
    )
    project = Project.create(tmp_path, base)
    change = "ALTER TABLE t ADD COLUMN c int DEFAULT one();\n"
    (project.directory / "002_change.up.sql").write_text("-- migrate:lock-timeout 1s\n" + change)
    report = run_lint(Settings(migrations_dir=project.directory))
    flagged = [f.rule for f in report.findings if str(f.file).endswith("002_change.up.sql")]
    (project.directory / "002_change.up.sql").unlink()
    result = project.plan(change)
    assert result.plan.changes[0].recipe.startswith(planned)
    assert ("add-column-rewrite" in flagged) is (declared == "VOLATILE"), flagged
