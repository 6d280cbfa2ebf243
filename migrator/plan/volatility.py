"""Whether a default expression is volatile (and so rewrites the table when given to
``ADD COLUMN``): functions are judged by name, unknown ones count as volatile."""

from __future__ import annotations

from typing import Any

from pglast import ast

#: built-in functions that are immutable or stable: a default calling only these is
#: evaluated once and stored in the catalog (PostgreSQL 11+), no rewrite
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_setting",
        "lower",
        "upper",
        "length",
        "abs",
        "concat",
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "date_trunc",
        "make_interval",
        "make_date",
        "to_timestamp",
        "to_char",
        "to_jsonb",
        "to_json",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "json_build_array",
        "array_length",
        "md5",
        "btrim",
        "trim",
        "replace",
        "substring",
        "left",
        "right",
        "round",
        "trunc",
        "floor",
        "ceil",
        "int4",
        "int8",
        "text",
        "timezone",
    }
)


def is_volatile(expression: Any) -> bool:
    """``expression`` (a pglast AST node) may give a different value per row."""
    volatile = False

    def visit(node: Any) -> None:
        nonlocal volatile
        if isinstance(node, ast.FuncCall):
            name = node.funcname[-1].sval if node.funcname else ""
            if name.lower() not in NON_VOLATILE_FUNCTIONS:
                volatile = True
        elif isinstance(node, ast.SubLink):
            volatile = True

    def walk(node: Any) -> None:
        if isinstance(node, tuple | list):
            for item in node:
                walk(item)
        elif isinstance(node, ast.Node):
            visit(node)
            for name in node:
                walk(getattr(node, name))

    walk(expression)
    return volatile
