"""The planner judges defaults exactly as the linter does (one volatility table)."""

from __future__ import annotations

import pytest

from migrator.plan.sql_text import parse_statement
from migrator.plan.volatility import is_volatile


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
