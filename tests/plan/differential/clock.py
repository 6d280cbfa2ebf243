"""Which columns of a view show the clock: an expression that calls ``now()`` (or
``CURRENT_TIMESTAMP``, ``clock_timestamp()``, ...), a function of the database whose
body does (lemmy's ``hot_rank``), or a column of that kind of another view it reads.
Such a value is computed at another instant on each copy (a materialized view
refreshed by a trigger after each client write; a view read a moment later), so the
harness compares it only as NULL or not (see harness._views_agree)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from migrator.sql.names import quote_ident
from migrator.sql.parse import parse_one

#: the clock functions of PostgreSQL
CLOCK_FUNCTIONS = frozenset(
    {"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday"}
)
_SQL_VALUE_CLOCK = re.compile(r"^SVFOP_(CURRENT_(DATE|TIME|TIMESTAMP)|LOCALTIME|LOCALTIMESTAMP)")

FUNCTIONS = """
SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

VIEW_DEFINITION = """
SELECT pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname = $1 AND c.relkind IN ('v', 'm')
"""

_KEYWORDS = re.compile(
    r"\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b", re.I
)


async def clock_functions(conn: asyncpg.Connection) -> frozenset[str]:
    """The clock functions and the functions of the database whose body calls one
    (through any number of others)."""
    bodies = {row[0]: row[1] or "" for row in await conn.fetch(FUNCTIONS)}
    found = set(CLOCK_FUNCTIONS)
    while True:
        calling = {
            name
            for name, body in bodies.items()
            if name not in found
            and (
                _KEYWORDS.search(body)
                or any(re.search(rf"\b{re.escape(f)}\s*\(", body, re.I) for f in found)
            )
        }
        if not calling:
            return frozenset(found)
        found |= calling


def _walk(node: Any) -> Any:
    """Every dict of a parse tree, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _walk(value)


def _last_name(items: Any) -> str | None:
    names = [i.get("String", {}).get("sval") for i in items or () if isinstance(i, dict)]
    return names[-1] if names and names[-1] else None


def _shows_the_clock(expression: Any, functions: frozenset[str], columns: set[str]) -> bool:
    for node in _walk(expression):
        if "FuncCall" in node and _last_name(node["FuncCall"].get("funcname")) in functions:
            return True
        if "SQLValueFunction" in node and _SQL_VALUE_CLOCK.match(
            str(node["SQLValueFunction"].get("op", ""))
        ):
            return True
        if "ColumnRef" in node and _last_name(node["ColumnRef"].get("fields")) in columns:
            return True
    return False


def _targets(select: dict[str, Any]) -> list[list[Any]]:
    """Each output column's expressions (one per side of a UNION)."""
    if select.get("larg"):
        left = _targets(select["larg"].get("SelectStmt", select["larg"]))
        right = _targets(select["rarg"].get("SelectStmt", select["rarg"]))
        return [a + b for a, b in zip(left, right, strict=False)]
    return [[item.get("ResTarget", {})] for item in select.get("targetList") or ()]


async def clock_columns(
    conn: asyncpg.Connection,
    view: str,
    functions: frozenset[str],
    memo: dict[str, set[str]] | None = None,
) -> set[str]:
    """The columns of ``view`` (a view or materialized view of ``public``; a table: none)
    that show the clock."""
    memo = {} if memo is None else memo
    if view in memo:
        return memo[view]
    memo[view] = set()  # a view cannot read itself; stops a cycle all the same
    definition = await conn.fetchval(VIEW_DEFINITION, view)
    parsed = parse_one(definition) if definition else None
    if parsed is None or parsed[0] != "SelectStmt":
        return memo[view]
    select = parsed[1]
    read: set[str] = set()
    for node in _walk(select):
        if "RangeVar" in node and node["RangeVar"].get("relname") not in (None, view):
            read |= await clock_columns(conn, node["RangeVar"]["relname"], functions, memo)
    names = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        quote_ident(view),
    )
    found = {
        row[0]
        for row, expressions in zip(names, _targets(select), strict=False)
        if any(_shows_the_clock(e.get("val"), functions, read) for e in expressions)
    }
    memo[view] = found
    return found
