"""Synthetic rows for a rehearsal (``migrate dry-run --seed-rows N``).

Every empty user table gets ``N`` rows before a migration is rehearsed, so that what
only hurts on real data shows up: a ``NOT NULL`` column added without a default fails,
a ``SET NOT NULL`` or ``VALIDATE`` has something to scan, a rewrite has pages to copy.

Rows are made in one ``INSERT ... SELECT ... FROM generate_series(1, N)`` per table:
each column gets an expression of ``g`` (the row number) that fits its type (so
``UNIQUE`` holds), foreign-key columns take the referenced rows of the parent (tables
are filled parents first), identity, generated and defaulted columns are left to the
server. When a ``CHECK``, ``UNIQUE`` or ``NOT NULL`` constraint rejects the rows, the
columns it names move to their next candidate (a small number, a literal taken from the
check's definition, ``NULL``) and the insert is tried again. A table that cannot be
filled is reported, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from migrator.db.quoting import quote_ident

_TABLES = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND c.oid <> ALL($1::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype = 'e')
"""

_COLUMNS = """
SELECT a.attrelid AS table_oid, a.attnum, a.attname, a.attnotnull,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name,
       coalesce(nullif(t.typbasetype, 0), t.oid) AS base_oid,
       a.attidentity <> '' OR a.attgenerated <> '' AS automatic,
       d.adbin IS NOT NULL AS has_default
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_TYPES = """
SELECT t.oid, t.typcategory::text AS category, t.typname AS name,
       pg_catalog.format_type(t.oid, NULL) AS formatted, t.typelem AS element
FROM pg_catalog.pg_type AS t WHERE t.oid = ANY($1::oid[])
"""

_CONSTRAINTS = """
SELECT con.conname, con.contype::text AS contype, con.conrelid, con.confrelid,
       con.conkey, con.confkey, pg_catalog.pg_get_constraintdef(con.oid) AS definition
FROM pg_catalog.pg_constraint AS con
WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('c', 'f', 'u', 'p')
"""

_MAX_ATTEMPTS = 24
#: the row number in a candidate expression
_ROW = re.compile(r"\bg\b")
_LITERAL = re.compile(r"'((?:[^']|'')*)'|(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])")


@dataclass(frozen=True)
class SeedResult:
    """Rows inserted per table, and the tables that could not be filled (with why)."""

    filled: tuple[tuple[str, int], ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass
class _Column:
    name: str
    not_null: bool
    type_name: str
    base_oid: int
    automatic: bool
    has_default: bool
    candidates: list[str] = field(default_factory=list)
    choice: int = 0

    @property
    def expression(self) -> str:
        return self.candidates[min(self.choice, len(self.candidates) - 1)]


@dataclass
class _ForeignKey:
    name: str
    parent_oid: int
    columns: list[str]
    parent_columns: list[str]


@dataclass
class _Table:
    oid: int
    name: str
    columns: dict[int, _Column] = field(default_factory=dict)
    foreign_keys: list[_ForeignKey] = field(default_factory=list)
    #: constraint name -> column names it covers (to know what to change on a violation)
    constraint_columns: dict[str, list[str]] = field(default_factory=dict)
    check_literals: dict[str, list[str]] = field(default_factory=dict)


def _scalar_candidates(category: str, type_name: str, formatted: str) -> list[str]:
    if type_name == "uuid":
        return ["md5(g::text)::uuid"]
    if type_name in ("json", "jsonb"):
        return ["jsonb_build_object('n', g)", "'{}'", "'[]'"]
    if type_name == "bytea":
        return ["decode(md5(g::text), 'hex')"]
    if category == "N":
        return ["g", "1 + (g % 5)", "0.5", "0", "1"]
    if category == "S":
        return ["'v' || g", "'x'", "''"]
    if category == "B":
        return ["(g % 2 = 0)", "true", "false"]
    if category == "D":
        return ["timestamp '2024-01-01' + g * interval '1 minute'", "now()"]
    if category == "T":
        return ["g * interval '1 second'"]
    if category == "E":
        labels = f"enum_range(NULL::{formatted})"
        return [f"({labels})[1 + (g % array_length({labels}, 1))]", f"({labels})[1]"]
    if category == "I":
        return ["'10.0.0.0'::inet + g"]
    return [f"g::text::{formatted}"]


def _candidates(column: _Column, types: dict[int, Any]) -> list[str]:
    info = types.get(column.base_oid)
    if info is None:
        found = [f"g::text::{column.type_name}"]
    elif info["category"] == "A" and int(info["element"]) in types:
        element = types[int(info["element"])]
        inner = _scalar_candidates(element["category"], element["name"], element["formatted"])
        found = [
            f"ARRAY[{inner[0]}, {_ROW.sub('(g + 1000000)', inner[0])}]",
            f"ARRAY[{inner[0]}]",
            "'{}'",
        ]
    else:
        found = _scalar_candidates(info["category"], info["name"], info["formatted"])
    if not column.not_null:
        found.append("NULL")
    return found


def _literals(definition: str) -> list[str]:
    values = []
    for text, number in _LITERAL.findall(definition):
        values.append(number if number else f"'{text}'")
    return list(dict.fromkeys(values))


async def _load_tables(connection: Any, excluded: list[int]) -> dict[int, _Table]:
    tables = {
        int(row["oid"]): _Table(int(row["oid"]), row["name"])
        for row in await connection.fetch(_TABLES, excluded)
    }
    oids = list(tables)
    rows = await connection.fetch(_COLUMNS, oids)
    type_oids = {int(row["base_oid"]) for row in rows}
    types = {int(r["oid"]): r for r in await connection.fetch(_TYPES, list(type_oids))}
    elements = {int(r["element"]) for r in types.values() if int(r["element"])}
    types.update({int(r["oid"]): r for r in await connection.fetch(_TYPES, list(elements))})
    for row in rows:
        column = _Column(
            row["attname"],
            row["attnotnull"],
            row["type_name"],
            int(row["base_oid"]),
            row["automatic"],
            row["has_default"],
        )
        column.candidates = _candidates(column, types)
        tables[int(row["table_oid"])].columns[int(row["attnum"])] = column
    for row in await connection.fetch(_CONSTRAINTS, oids):
        table = tables[int(row["conrelid"])]
        names = [table.columns[n].name for n in row["conkey"] or [] if n in table.columns]
        table.constraint_columns[row["conname"]] = names
        if row["contype"] == "f" and int(row["confrelid"]) in tables:
            parent = tables[int(row["confrelid"])]
            table.foreign_keys.append(
                _ForeignKey(
                    row["conname"],
                    parent.oid,
                    names,
                    [parent.columns[n].name for n in row["confkey"]],
                )
            )
        if row["contype"] == "c":
            table.check_literals[row["conname"]] = _literals(row["definition"])
    return tables


def _fill_order(tables: dict[int, _Table]) -> list[_Table]:
    """Parents before children; a cycle is broken where it is met."""
    order: list[_Table] = []
    state: dict[int, str] = {}

    def visit(oid: int) -> None:
        if state.get(oid) is not None:
            return
        state[oid] = "visiting"
        for key in tables[oid].foreign_keys:
            if key.parent_oid != oid and state.get(key.parent_oid) != "visiting":
                visit(key.parent_oid)
        state[oid] = "done"
        order.append(tables[oid])

    for oid in sorted(tables, key=lambda o: tables[o].name):
        visit(oid)
    return order


def _insert_sql(table: _Table, rows: int, names_by_oid: dict[int, str]) -> str:
    assignments: dict[str, str] = {}
    joins: list[str] = []
    for index, key in enumerate(table.foreign_keys):
        if key.parent_oid == table.oid:
            continue  # self reference: the column's own candidates (NULL when allowed)
        alias = f"fk{index}"
        parent = names_by_oid[key.parent_oid]
        parent_columns = ", ".join(quote_ident(c) for c in key.parent_columns)
        joins.append(
            f" JOIN (SELECT {parent_columns}, row_number() OVER () AS rn FROM {parent})"
            f" AS {alias} ON {alias}.rn = 1 + (g - 1) % nullif((SELECT count(*) FROM"
            f" {parent}), 0)"
        )
        for child_column, parent_column in zip(key.columns, key.parent_columns, strict=False):
            assignments[child_column] = f"{alias}.{quote_ident(parent_column)}"
    for column in table.columns.values():
        if column.automatic or column.name in assignments:
            continue
        if column.has_default and column.choice == 0:
            continue
        assignments[column.name] = column.expression
    names = ", ".join(quote_ident(name) for name in assignments)
    values = ", ".join(assignments.values())
    if not assignments:
        return f"INSERT INTO {table.name} SELECT FROM generate_series(1, {rows}) AS g"
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {values}"
        f" FROM generate_series(1, {rows}) AS g{''.join(joins)}"
    )


def _advance(table: _Table, exc: asyncpg.PostgresError) -> bool:
    """Move the columns the failed constraint names to their next candidate; False
    when there is nothing left to try."""
    constraint = getattr(exc, "constraint_name", None)
    column_name = getattr(exc, "column_name", None)
    names = table.constraint_columns.get(constraint or "", [])
    if column_name:
        names = [column_name]
    if not names:
        # "value too long for type character(1)", "invalid input syntax for type X":
        # the columns of the type the message names
        message = str(getattr(exc, "message", exc))
        names = [c.name for c in table.columns.values() if f"type {c.type_name}" in message]
    moved = False
    literals = table.check_literals.get(constraint or "", [])
    for column in table.columns.values():
        if column.name not in names or column.automatic:
            continue
        for literal in literals:
            if literal not in column.candidates:
                column.candidates.insert(min(column.choice + 1, len(column.candidates)), literal)
        if column.choice + 1 < len(column.candidates):
            column.choice += 1
            moved = True
            break
    return moved


async def _fill(
    connection: Any, table: _Table, rows: int, names_by_oid: dict[int, str]
) -> tuple[int, str | None]:
    last_error = ""
    for _attempt in range(_MAX_ATTEMPTS):
        sql = _insert_sql(table, rows, names_by_oid)
        try:
            async with connection.transaction():
                status = await connection.execute(sql)
            return int(str(status).split()[-1]), None
        except asyncpg.PostgresError as exc:
            last_error = str(getattr(exc, "message", exc))
            if not _advance(table, exc):
                break
    return 0, last_error or "no rows"


async def _is_empty(connection: Any, table: _Table) -> bool:
    return not await connection.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table.name})")


async def seed_empty_tables(connection: Any, rows: int, excluded: list[int]) -> SeedResult:
    """Fill every empty user table (other than ``excluded`` oids) with ``rows`` rows."""
    if rows <= 0:
        return SeedResult()
    tables = await _load_tables(connection, excluded)
    names_by_oid = {oid: table.name for oid, table in tables.items()}
    filled: list[tuple[str, int]] = []
    skipped: list[tuple[str, str]] = []
    for table in _fill_order(tables):
        if not await _is_empty(connection, table):
            continue
        count, error = await _fill(connection, table, rows, names_by_oid)
        if error is None and count > 0:
            filled.append((table.name, count))
        else:
            skipped.append((table.name, error or "a parent table has no rows"))
    return SeedResult(tuple(filled), tuple(skipped))
