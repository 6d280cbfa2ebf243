"""A generic filler: a few rows in every table of ``public``, whatever the schema.

For the planner's differential proof on real histories (bench/plan_histories.py): the
schema is what a real team's migrations built, nobody wrote a seed for it. Tables are
filled in foreign-key order (a referencing table after the one it references, its key
columns taken from the referenced table's rows); each value comes from the column's
type (:func:`literal`, pure), a column with a default or filled by the database gets
its default. NOT NULL, CHECK and UNIQUE are respected best-effort: a row the database
refuses is tried again with only the NOT NULL columns written, then given up; a table
that gets no row is reported, and left empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from migrator.sql.names import quote_ident

#: rows tried per table
ROWS = 3

COLUMNS = """
SELECT c.relname AS table, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type,
       coalesce(bt.typcategory, t.typcategory)::text AS category,
       coalesce(bt.typname, t.typname)::text AS base, t.typelem <> 0 AND t.typlen = -1 AS is_array,
       a.attnotnull AS not_null, a.atthasdef AS has_default,
       a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated,
       CASE WHEN a.atttypmod > 4 AND coalesce(bt.typcategory, t.typcategory) = 'S'
            THEN a.atttypmod - 4 END AS max_length,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e
             WHERE e.enumtypid = coalesce(bt.oid, t.oid) ORDER BY e.enumsortorder) AS labels
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname NOT LIKE 'migrator\\_ledger%'
ORDER BY c.relname, a.attnum
"""

FOREIGN_KEYS = """
SELECT c.relname AS table, r.relname AS referenced, rn.nspname AS referenced_schema,
       ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
             ORDER BY u.i) AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n
             ORDER BY u.i) AS referenced_columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class r ON r.oid = k.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype = 'f' AND n.nspname = 'public' AND NOT c.relispartition
ORDER BY c.relname, k.conname
"""


@dataclass(frozen=True)
class Column:
    name: str
    #: as ``format_type`` spells it (``character varying(20)``, ``integer[]``)
    type: str
    #: ``pg_type.typcategory`` of the type (of a domain: of its base type)
    category: str
    not_null: bool = False
    has_default: bool = False
    automatic: bool = False
    is_array: bool = False
    max_length: int | None = None
    #: an enum's labels, in their order
    labels: tuple[str, ...] = ()
    #: the base type's name, lower case (``uuid``, ``jsonb``, ``ltree``)
    base: str = ""


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    #: the referenced table, schema-qualified and quoted
    referenced: str
    referenced_name: str
    referenced_columns: tuple[str, ...]


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: a value for the base types whose category says too little (user-defined: ``U``)
_BY_NAME = {
    "uuid": "00000000-0000-4000-8000-{k:012d}",
    "json": '{{"k": {k}}}',
    "jsonb": '{{"k": {k}}}',
    "bytea": "\\x0{k}",
    "ltree": "top.n{k}",
    "tsvector": "word{k}",
    "tsquery": "word{k}",
    "xml": "<k>{k}</k>",
    "money": "{k}.00",
    "point": "({k},{k})",
    "int4range": "[{k},{k}0)",
    "int8range": "[{k},{k}0)",
    "tstzrange": "[2020-01-0{k},2021-01-01)",
    "daterange": "[2020-01-0{k},2021-01-01)",
}

#: a value by ``typcategory``
_BY_CATEGORY = {
    "N": "{k}",
    "B": "{bool}",
    "D": "2020-01-0{k} 0{k}:00:00",
    "T": "{k} hours",
    "I": "10.0.0.{k}",
    "V": "1",
}


def literal(column: Column, k: int) -> str | None:
    """The ``k``-th value (``k`` from 1) for ``column`` as a typed SQL literal, or
    ``None`` when the filler knows no value of its type."""
    if column.is_array:
        return f"'{{}}'::{column.type}"
    if column.category == "E":
        if not column.labels:
            return None
        text = column.labels[(k - 1) % len(column.labels)]
    elif column.base in _BY_NAME:
        text = _BY_NAME[column.base].format(k=k)
    elif column.category == "S":
        text = f"{column.name}_{k}"
        if column.max_length is not None:
            text = text[-column.max_length :]
    elif column.category in _BY_CATEGORY:
        text = _BY_CATEGORY[column.category].format(k=k, bool=str(k % 2 == 1).lower())
        if column.base == "date":
            text = text.split(" ")[0]
        elif column.base in {"time", "timetz"}:
            text = text.split(" ")[1]
    else:
        return None
    return f"{_quote_literal(text)}::{column.type}"


def _reference(key: ForeignKey, column: str, k: int) -> str:
    """The value of ``column`` (one of ``key``'s) in the ``k``-th row of the referenced
    table (NULL when it has fewer): every column of one key reads the same row."""
    referenced = key.referenced_columns[key.columns.index(column)]
    order = ", ".join(quote_ident(c) for c in key.referenced_columns)
    return (
        f"(SELECT {quote_ident(referenced)} FROM {key.referenced} "
        f"ORDER BY {order} LIMIT 1 OFFSET {(k - 1)})"
    )


def insert_sql(table: Table, k: int, *, minimal: bool = False) -> str:
    """The ``k``-th row of ``table``; ``minimal``: only the NOT NULL columns without a
    default written (a nullable one gets NULL, the rest their defaults), and every
    foreign key referencing the first row."""
    names, values = [], []
    keyed = {c: key for key in table.foreign_keys for c in key.columns}
    for column in table.columns:
        if column.automatic or column.has_default:
            continue
        if minimal and not column.not_null:
            continue
        if column.name in keyed:
            key = keyed[column.name]
            value: str | None = (
                "NULL"
                if key.referenced_name == table.name and not column.not_null
                else _reference(key, column.name, 1 if minimal else k)
            )
        else:
            value = literal(column, k)
        if value is None:
            if column.not_null:
                value = "NULL"  # refused: the table stays empty, and is counted
            else:
                continue
        names.append(quote_ident(column.name))
        values.append(value)
    target = f"public.{quote_ident(table.name)}"
    if not names:
        return f"INSERT INTO {target} DEFAULT VALUES"
    return f"INSERT INTO {target} ({', '.join(names)}) VALUES ({', '.join(values)})"


def fill_order(tables: Sequence[Table]) -> list[Table]:
    """Referenced tables first (a cycle is broken at the first table by name; a
    self-reference does not count)."""
    by_name = {t.name: t for t in tables}
    done: list[Table] = []
    seen: set[str] = set()

    def visit(table: Table, path: set[str]) -> None:
        if table.name in seen or table.name in path:
            return
        path = path | {table.name}
        for key in table.foreign_keys:
            referenced = by_name.get(key.referenced_name)
            if referenced is not None and referenced is not table:
                visit(referenced, path)
        seen.add(table.name)
        done.append(table)

    for table in sorted(tables, key=lambda t: t.name):
        visit(table, set())
    return done


async def read_tables(conn: asyncpg.Connection) -> list[Table]:
    tables: dict[str, Table] = {}
    for row in await conn.fetch(COLUMNS):
        tables.setdefault(row["table"], Table(row["table"])).columns.append(
            Column(
                name=row["column"],
                type=row["type"],
                category=row["category"],
                not_null=row["not_null"],
                has_default=row["has_default"] and not row["generated"],
                automatic=row["identity"] or row["generated"],
                is_array=row["is_array"],
                max_length=row["max_length"],
                labels=tuple(row["labels"]),
                base=row["base"],
            )
        )
    for row in await conn.fetch(FOREIGN_KEYS):
        if row["table"] in tables:
            tables[row["table"]].foreign_keys.append(
                ForeignKey(
                    tuple(row["columns"]),
                    f"{quote_ident(row['referenced_schema'])}.{quote_ident(row['referenced'])}",
                    row["referenced"] if row["referenced_schema"] == "public" else "",
                    tuple(row["referenced_columns"]),
                )
            )
    return list(tables.values())


@dataclass
class Filled:
    rows: int = 0
    tables: int = 0
    #: tables that got no row
    empty: list[str] = field(default_factory=list)


async def fill(conn: asyncpg.Connection, rows: int = ROWS) -> Filled:
    """Insert up to ``rows`` rows into every table of ``public``; each try in its own
    savepoint, so a refused row changes nothing."""
    result = Filled()
    for table in fill_order(await read_tables(conn)):
        result.tables += 1
        got = 0
        for k in range(1, rows + 1):
            for minimal in (False, True):
                try:
                    async with conn.transaction():
                        await conn.execute(insert_sql(table, k, minimal=minimal))
                except (asyncpg.PostgresError, asyncpg.InterfaceError):
                    continue
                got += 1
                break
        result.rows += got
        if not got:
            result.empty.append(table.name)
    return result
