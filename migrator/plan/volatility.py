"""Whether a default expression is volatile (and so rewrites the table when given to
``ADD COLUMN``). One judgement for the whole product: the linter's
(:func:`migrator.sql.tree.volatility`); a function it does not know counts as volatile."""

from __future__ import annotations

from typing import Any

from migrator.plan.sql_text import deparse
from migrator.sql.parse import parse_one
from migrator.sql.tree import volatility


def is_volatile(expression: Any) -> bool:
    """``expression`` (a pglast AST node) may give a different value per row."""
    parsed = parse_one(f"SELECT {deparse(expression)}")
    if parsed is None:
        return True
    _, select = parsed
    target = select["targetList"][0]["ResTarget"]["val"]
    return volatility(target) in ("volatile", "unknown")
