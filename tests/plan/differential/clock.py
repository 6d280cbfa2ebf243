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


TRIGGER_FUNCTIONS = """
SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prorettype = 'trigger'::regtype AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

TABLE_COLUMNS = """
SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0
AND NOT attisdropped ORDER BY attnum
"""

_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE)\b", re.I)


def _writes_of(body: str) -> list[tuple[str, Any]]:
    """The INSERT and UPDATE statements of a PL/pgSQL body, parsed: each from its
    keyword to the next semicolon (the first keyword of a piece that parses: an
    ``'UPDATE'`` in ``IF TG_OP = 'UPDATE' THEN`` does not)."""
    found = []
    for piece in re.sub(r"--[^\n]*", "", body).split(";"):
        for keyword in _WRITE.finditer(piece):
            parsed = parse_one(piece[keyword.start() :])
            if parsed is not None and parsed[0] in {"InsertStmt", "UpdateStmt"}:
                found.append(parsed)
                break
    return found


async def _read_clock(
    conn: asyncpg.Connection, from_clause: Any, functions: frozenset[str], memo: dict[str, set[str]]
) -> set[str]:
    """The clock columns of the views a FROM clause reads."""
    read: set[str] = set()
    for node in _walk(from_clause):
        if "RangeVar" in node and node["RangeVar"].get("relname"):
            read |= await clock_columns(conn, node["RangeVar"]["relname"], functions, memo)
    return read


async def _names(conn: asyncpg.Connection, relation: str) -> list[str]:
    return [row[0] for row in await conn.fetch(TABLE_COLUMNS, quote_ident(relation))]


def _column(name: str) -> dict[str, Any]:
    return {"val": {"ColumnRef": {"fields": [{"String": {"sval": name}}]}}}


async def _inserted(conn: asyncpg.Connection, insert: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each column an INSERT fills, with its expressions (one per side of a UNION, one
    per row of VALUES); ``SELECT * FROM v``: the columns of ``v`` by position."""
    select = (insert.get("selectStmt") or {}).get("SelectStmt") or {}
    columns = [item["ResTarget"]["name"] for item in insert.get("cols") or ()]
    columns = columns or await _names(conn, insert["relation"]["relname"])
    outputs = _targets(select)
    rows = [row["List"]["items"] for row in select.get("valuesLists") or ()]
    if rows:
        outputs = [[{"val": value} for value in column] for column in zip(*rows, strict=False)]
    sources = [n["RangeVar"]["relname"] for n in _walk(select.get("fromClause")) if "RangeVar" in n]
    if len(outputs) == 1 and "A_Star" in str(outputs[0]) and len(sources) == 1:
        outputs = [[_column(name)] for name in await _names(conn, sources[0])]
    return [
        (name, [e.get("val") for e in expressions])
        for name, expressions in zip(columns, outputs, strict=False)
    ]


async def trigger_clock_columns(conn: asyncpg.Connection) -> dict[str, frozenset[str]]:
    """The columns of each table that a trigger function fills with a value showing
    the clock: lemmy's cache tables (``INSERT INTO post_aggregates_fast SELECT * FROM
    post_aggregates_view``, ``UPDATE ... SET hot_rank = pav.hot_rank FROM
    post_aggregates_view pav``, a view whose ``hot_rank`` reads ``now()``). Each copy's
    trigger computes it at its own instant, as a view computes such a column."""
    functions = await clock_functions(conn)
    memo: dict[str, set[str]] = {}
    found: dict[str, set[str]] = {}
    for (body,) in await conn.fetch(TRIGGER_FUNCTIONS):
        for kind, statement in _writes_of(body or ""):
            if kind == "UpdateStmt":
                from_clause = statement.get("fromClause")
                targets = [
                    (item["ResTarget"].get("name"), [item["ResTarget"].get("val")])
                    for item in statement.get("targetList") or ()
                ]
            else:
                from_clause = ((statement.get("selectStmt") or {}).get("SelectStmt") or {}).get(
                    "fromClause"
                )
                targets = await _inserted(conn, statement)
            read = await _read_clock(conn, from_clause, functions, memo)
            for name, expressions in targets:
                if name and any(_shows_the_clock(e, functions, read) for e in expressions):
                    found.setdefault(statement["relation"]["relname"], set()).add(name)
    return {table: frozenset(columns) for table, columns in found.items()}
