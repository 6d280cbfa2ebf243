"""Whether a default expression is volatile (and so rewrites the table when given to
``ADD COLUMN``). One judgement for the whole product, the linter's
(:func:`migrator.sql.volatility.expression_volatility`): built-in functions by their
table, a user function by what its ``CREATE FUNCTION`` declared in the replayed
migrations; a function neither knows counts as volatile."""

from __future__ import annotations

from typing import Any

from migrator.sql.catalog import Catalog
from migrator.sql.parse import parse_one
from migrator.sql.syntax import deparse
from migrator.sql.volatility import expression_volatility


def is_volatile(expression: Any, catalog: Catalog | None = None) -> bool:
    """``expression`` (a pglast AST node) may give a different value per row."""
    return is_volatile_sql(deparse(expression), catalog)


def is_volatile_sql(expression: str, catalog: Catalog | None = None) -> bool:
    """:func:`is_volatile` of an expression written as SQL."""
    parsed = parse_one(f"SELECT {expression}")
    if parsed is None:
        return True
    _, select = parsed
    target = select["targetList"][0]["ResTarget"]["val"]
    return expression_volatility(target, catalog) in ("volatile", "unknown")
