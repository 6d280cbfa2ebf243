"""What a client knows of a database: each table's columns (type, default, whether it
is written by the client at all) and the columns a row is identified by, read from the
catalog; and the SQL of the writes a client of that shape sends.

A write is one SQL statement, generated from a shape and a serial number only, so the
same statement can be sent to two databases (the naive copy and the planned one): an
insert copies an existing row (chosen by its position in a fixed order) and makes its
unique columns new, an update changes one column of one row. Values come from rows
already there, so they satisfy the table's checks and foreign keys as the seed does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import asyncpg

from migrator.sql.names import quote_ident

COLUMNS = """
SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       t.typcategory::text AS category, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity <> '' AS identity,
       a.attgenerated <> '' AS generated, a.attnum AS position,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
               AND a.attnum = ANY (i.indkey)) AS in_unique,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary
               AND a.attnum = ANY (i.indkey)) AS in_primary
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE 'migrator%'
  AND NOT c.relispartition
ORDER BY c.relname, a.attnum
"""

VIEWS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') ORDER BY 1
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    category: str
    not_null: bool
    default: str | None
    identity: bool
    generated: bool
    in_unique: bool
    in_primary: bool

    @property
    def volatile(self) -> bool:
        """A default whose value differs from one database to the other (a sequence
        is the same in both: the same inserts run in the same order)."""
        text = self.default or ""
        return "(" in text and not text.startswith("nextval(")

    @property
    def automatic(self) -> bool:
        """Filled by the database: a client does not write it."""
        return self.identity or self.generated or (self.default or "").startswith("nextval(")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def key(self) -> tuple[Column, ...]:
        """The primary key, or every column (a row is then identified by its values)."""
        primary = tuple(c for c in self.columns if c.in_primary)
        return primary or tuple(c for c in self.columns if not c.generated)

    @property
    def writable(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.automatic)


TRIGGERS = """
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Shape:
    tables: dict[str, Table]
    views: tuple[str, ...]
    #: the (user) triggers of each table
    triggers: dict[str, frozenset[str]]

    def restricted_to(self, other: Shape) -> Shape:
        """The tables and columns of this shape that ``other`` has too, unique where
        either is (a client of the new version that, before the contract, writes what
        exists and keeps to the constraints still there)."""
        tables = {}
        for name, table in self.tables.items():
            there = other.tables.get(name)
            if there is None:
                continue
            columns = []
            for column in table.columns:
                now = there.column(column.name)
                if now is not None:  # unique while either database says so
                    columns.append(replace(column, in_unique=column.in_unique or now.in_unique))
            tables[name] = Table(name, tuple(columns))
        return Shape(tables, tuple(v for v in self.views if v in other.views), other.triggers)


async def read_shape(conn: asyncpg.Connection) -> Shape:
    tables: dict[str, list[Column]] = {}
    for row in await conn.fetch(COLUMNS):
        tables.setdefault(row["table"], []).append(
            Column(
                row["column"],
                row["type"],
                row["category"],
                row["not_null"],
                row["default"],
                row["identity"],
                row["generated"],
                row["in_unique"],
                row["in_primary"],
            )
        )
    views = tuple(row[0] for row in await conn.fetch(VIEWS))
    triggers: dict[str, set[str]] = {}
    for table, trigger in await conn.fetch(TRIGGERS):
        triggers.setdefault(table, set()).add(trigger)
    return Shape(
        {name: Table(name, tuple(cols)) for name, cols in tables.items()},
        views,
        {table: frozenset(names) for table, names in triggers.items()},
    )


def _order(table: Table, alias: str) -> str:
    """A fixed order of the rows that does not depend on columns the other database
    has in addition, nor on physical positions."""
    cells = ", ".join(f"{alias}.{quote_ident(c.name)}::text" for c in table.key)
    return f"ROW({cells})::text"


def _fresh_value(table: Table, column: Column, serial: int, source: str) -> str:
    """A value for a unique column that no row has yet (or NULL where it may be)."""
    name = quote_ident(column.name)
    if column.category == "S":  # strings
        return f"{source}.{name} || '~{serial}'"
    if column.category == "N":  # numbers
        return (
            f"(SELECT coalesce(max({name}), 0) + 1 FROM {quote_ident(table.name)})::{column.type}"
        )
    if column.type == "uuid":
        return f"md5({source}.{name}::text || '{serial}')::uuid"
    return f"{source}.{name}"


def minimal_insert_sql(table: Table, serial: int) -> str | None:
    """Insert a row naming only the columns a client must write (NOT NULL without a
    default, and unique columns): every other column takes its default."""
    required = [c for c in table.writable if (c.not_null and c.default is None) or c.in_unique]
    if not required:
        return f"INSERT INTO {quote_ident(table.name)} DEFAULT VALUES"
    return _copy_insert(table, required, serial)


def _copy_insert(table: Table, columns: list[Column] | tuple[Column, ...], serial: int) -> str:
    names = ", ".join(quote_ident(c.name) for c in columns)
    values = ", ".join(
        _fresh_value(table, c, serial, "r") if c.in_unique else f"r.{quote_ident(c.name)}"
        for c in columns
    )
    source = quote_ident(table.name)
    return (
        f"INSERT INTO {source} ({names}) SELECT {values} FROM {source} AS r "
        f"ORDER BY {_order(table, 'r')} LIMIT 1 OFFSET {serial} % "
        f"greatest(1, (SELECT count(*) FROM {source}))"
    )


def _changed_value(column: Column, serial: int) -> str | None:
    name = quote_ident(column.name)
    if column.category == "S":
        return f"coalesce({name}, '') || '~u{serial}'"
    if column.category == "N" and not column.in_unique:
        return f"coalesce({name}, 0) + 1"
    if column.category == "B":
        return f"NOT coalesce({name}, false)"
    return None


def update_sql(table: Table, serial: int) -> str | None:
    """Change one column (the ``serial``-th changeable one, in turn) of one row."""
    changeable = [
        (c, value)
        for c in table.writable
        if not c.in_primary and (value := _changed_value(c, serial)) is not None
    ]
    if not changeable:
        return None
    column, value = changeable[serial % len(changeable)]
    key = ", ".join(quote_ident(c.name) for c in table.key)
    picked = ", ".join(f"p.{quote_ident(c.name)}" for c in table.key)
    source = quote_ident(table.name)
    return (
        f"UPDATE {source} SET {quote_ident(column.name)} = {value} "
        f"WHERE ROW({key}) = (SELECT ROW({picked}) FROM {source} AS p "
        f"ORDER BY {_order(table, 'p')} LIMIT 1 OFFSET ({serial} * 7) % "
        f"greatest(1, (SELECT count(*) FROM {source})))"
    )


def writes(shape: Shape, serial: int) -> list[str]:
    """The writes one client of ``shape`` sends in one window."""
    statements: list[str] = []
    for number, table in enumerate(sorted(shape.tables.values(), key=lambda t: t.name)):
        n = serial * 31 + number
        for sql in (
            _copy_insert(table, table.writable, n) if table.writable else None,
            minimal_insert_sql(table, n + 1),
            update_sql(table, n),
        ):
            if sql is not None:
                statements.append(sql)
    return statements
