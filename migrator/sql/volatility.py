"""One volatility judgement for a default expression, for the linter and the planner:
the built-in table of :func:`migrator.sql.tree.volatility`, and for a user function
the volatility its ``CREATE FUNCTION`` (or a later ``ALTER FUNCTION``) declared in the
replayed catalog. A function neither knows is of unknown volatility."""

from __future__ import annotations

from typing import Any

from migrator.sql.catalog import Catalog
from migrator.sql.tree import (
    NON_VOLATILE_FUNCTIONS,
    VOLATILE_FUNCTIONS,
    Volatility,
    function_name,
    volatility,
    walk,
)


def expression_volatility(expression: Any, catalog: Catalog | None) -> Volatility:
    """How ``expression`` (a JSON parse tree) behaves as a default, given the functions
    ``catalog`` knows."""
    known: dict[str, str] = {}
    if catalog is not None:
        for kind, fields in walk({"root": expression}):
            if kind != "FuncCall":
                continue
            schema, name = function_name(fields)
            function = catalog.function(f"{schema}.{name}" if schema else name)
            if function is not None and function.volatility is not None:
                known[name] = function.volatility
    return volatility(expression, known)


def unknown_functions(expression: Any, catalog: Catalog) -> list[str]:
    """The functions ``expression`` calls whose volatility neither PostgreSQL's table
    nor ``catalog`` knows (as written: ``f`` or ``schema.f``), each once."""
    found: list[str] = []
    for kind, fields in walk({"root": expression}):
        if kind != "FuncCall":
            continue
        schema, name = function_name(fields)
        if name in VOLATILE_FUNCTIONS or (
            name in NON_VOLATILE_FUNCTIONS and schema in (None, "pg_catalog")
        ):
            continue
        written = f"{schema}.{name}" if schema else name
        function = catalog.function(written)
        if (function is None or function.volatility is None) and written not in found:
            found.append(written)
    return found
