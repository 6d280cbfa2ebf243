"""What adding a column does to the rows: nothing but a catalog change (no default, or
one that is not volatile, and no constraint but NULL / NOT NULL: PostgreSQL 11+ stores a
non-volatile default once, every row reads it), or more (a volatile default's rewrite, a
sequence's values, a constraint's scan). The file-order rule and the re-added column's
plan judge a column added by the file with it."""

from __future__ import annotations

from migrator.sql.catalog import Catalog
from migrator.sql.names import type_ref
from migrator.sql.parse import Node
from migrator.sql.replay import SERIAL_TYPES
from migrator.sql.tree import column_constraints
from migrator.sql.volatility import expression_volatility

#: the constraints of a column added without a scan or a rewrite
_PLAIN_COLUMN_CONSTRAINTS = frozenset({"CONSTR_NULL", "CONSTR_NOTNULL", "CONSTR_DEFAULT"})


def added_alike(column: Node, catalog: Catalog, *, volatile: bool = False) -> bool:
    """``column`` (a ``ColumnDef`` JSON tree) gets the same value in every row whenever
    it is added: not serial, no constraint but NULL / NOT NULL, no default or one that is
    not volatile (with ``volatile``, any default: the caller plans its fill)."""
    if type_ref(column.get("typeName")).name in SERIAL_TYPES:
        return False  # a sequence's values, one per row
    for constraint in column_constraints(column):
        if constraint.get("contype") not in _PLAIN_COLUMN_CONSTRAINTS:
            return False
        if (
            not volatile
            and constraint.get("contype") == "CONSTR_DEFAULT"
            and expression_volatility(constraint.get("raw_expr"), catalog)
            in ("volatile", "unknown")
        ):
            return False
    return True


def added_in_the_catalog(column: Node, catalog: Catalog) -> bool:
    """Adding ``column`` to a table with rows is a catalog change only, and succeeds:
    :func:`added_alike`, and NOT NULL only with a default (without one, the naive
    ``ADD COLUMN`` fails on the first row, 23502)."""
    kinds = {constraint.get("contype") for constraint in column_constraints(column)}
    return added_alike(column, catalog) and (
        "CONSTR_NOTNULL" not in kinds or "CONSTR_DEFAULT" in kinds
    )
