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

import re
from dataclasses import dataclass, field, replace

import asyncpg

from migrator.sql.names import quote_ident

COLUMNS = """
SELECT c.relname AS table, c.relkind = 'p' AS partitioned, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type,
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

#: an extension's own views (pg_stat_statements) are not the application's
NOT_EXTENSION_MEMBER = """NOT EXISTS (SELECT 1 FROM pg_depend d
  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"""

VIEWS = f"""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') AND {NOT_EXTENSION_MEMBER} ORDER BY 1
"""


#: the SQL value functions of the clock, which the catalog keeps without parentheses
#: (``DEFAULT CURRENT_TIMESTAMP``: pocket-id's tables)
_CLOCK = re.compile(r"\b(CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME)\b")


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
    #: a trigger fills it with a value that shows the clock (clock.trigger_clock_columns)
    clock: bool = False

    @property
    def volatile(self) -> bool:
        """A default whose value differs from one database to the other (a sequence
        is the same in both: the same inserts run in the same order; the expression
        of a generated column, which the catalog keeps as its default, is computed
        from the row)."""
        text = self.default or ""
        if self.generated or text.startswith("nextval("):
            return False
        return "(" in text or bool(_CLOCK.search(text))

    @property
    def automatic(self) -> bool:
        """Filled by the database: a client does not write it."""
        return self.identity or self.generated or (self.default or "").startswith("nextval(")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    partitioned: bool = False

    @property
    def rows_sql(self) -> str:
        """Its own rows: a partitioned table's are in its partitions, an inheritance
        parent's children are tables of their own."""
        return quote_ident(self.name) if self.partitioned else f"ONLY {quote_ident(self.name)}"

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
SELECT c.relname, t.tgname, p.prosrc FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid
WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Shape:
    tables: dict[str, Table]
    views: tuple[str, ...]
    #: the (user) triggers of each table
    triggers: dict[str, frozenset[str]]
    #: the source of each trigger's function, by table and trigger
    trigger_sources: dict[tuple[str, str], str] = field(default_factory=dict)

    def with_clock(self, columns: dict[str, frozenset[str]]) -> Shape:
        """This shape, the ``columns`` of each table marked as filled with the clock."""
        tables = {
            name: replace(
                table,
                columns=tuple(
                    replace(c, clock=True) if c.name in columns.get(name, ()) else c
                    for c in table.columns
                ),
            )
            for name, table in self.tables.items()
        }
        return Shape(tables, self.views, self.triggers, self.trigger_sources)

    def without(self, names: frozenset[str]) -> Shape:
        """This shape without the tables ``names`` (a client leaves them alone)."""
        tables = {name: t for name, t in self.tables.items() if name not in names}
        return Shape(tables, self.views, self.triggers, self.trigger_sources)

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
                if now is not None:  # unique, NOT NULL while either database says so
                    columns.append(
                        replace(
                            column,
                            in_unique=column.in_unique or now.in_unique,
                            not_null=column.not_null or now.not_null,
                            default=column.default if column.default is not None else now.default,
                        )
                    )
            tables[name] = Table(name, tuple(columns), table.partitioned)
        views = tuple(v for v in self.views if v in other.views)
        return Shape(tables, views, other.triggers, other.trigger_sources)

    def unique_as(self, other: Shape | None) -> Shape:
        """This shape, its columns unique also where ``other`` makes them unique (old
        clients write fresh values where the change adds a key: data that breaks the
        new key is the user's to fix, and would only make both copies fail)."""
        if other is None:
            return self
        tables = {}
        for name, table in self.tables.items():
            there = other.tables.get(name)
            columns = []
            for column in table.columns:
                now = there.column(column.name) if there is not None else None
                unique = column.in_unique or (now is not None and now.in_unique)
                columns.append(replace(column, in_unique=unique))
            tables[name] = Table(name, tuple(columns), table.partitioned)
        return Shape(tables, self.views, self.triggers, self.trigger_sources)


async def read_shape(conn: asyncpg.Connection) -> Shape:
    tables: dict[str, list[Column]] = {}
    partitioned: set[str] = set()
    for row in await conn.fetch(COLUMNS):
        if row["partitioned"]:
            partitioned.add(row["table"])
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
    sources: dict[tuple[str, str], str] = {}
    for table, trigger, source in await conn.fetch(TRIGGERS):
        triggers.setdefault(table, set()).add(trigger)
        sources[table, trigger] = source
    return Shape(
        {name: Table(name, tuple(cols), name in partitioned) for name, cols in tables.items()},
        views,
        {table: frozenset(names) for table, names in triggers.items()},
        sources,
    )


def _order(table: Table, alias: str) -> str:
    """A fixed order of the rows that does not depend on columns the other database
    has in addition, nor on physical positions."""
    cells = ", ".join(f"{alias}.{quote_ident(c.name)}::text" for c in table.key)
    return f"ROW({cells})::text"


def _fresh_value(table: Table, column: Column, serial: int) -> str:
    """A value for a unique column that no row has yet (or NULL where it may be)."""
    name = quote_ident(column.name)
    if column.category == "S":  # strings
        return f"r.{name} || '~{serial}'"
    if column.category == "N":  # numbers
        return f"(SELECT coalesce(max({name}), 0) + 1 FROM {table.rows_sql})"
    if column.type == "uuid":
        return f"md5(r.{name}::text || '{serial}')::uuid"
    return f"r.{name}"


def _changed_value(table: Table, column: Column, serial: int) -> str | None:
    """A new value for ``column`` of the picked row ``r``: another row's value for a
    string (what the application writes there: an enum-like code fits its future
    type as well as the old values do), otherwise derived from the old one."""
    name = quote_ident(column.name)
    if column.category == "S" and column.in_unique:
        return f"coalesce(r.{name}, '') || '~u{serial}'"
    if column.category == "S":
        source = table.rows_sql
        return (
            f"(SELECT o.{name} FROM {source} AS o ORDER BY {_order(table, 'o')} LIMIT 1 "
            f"OFFSET {serial * 3 + 1} % greatest(1, (SELECT count(*) FROM {source})))"
        )
    if column.category == "N" and not column.in_unique:
        return f"coalesce(r.{name}, 0) + 1"
    if column.category == "B":
        return f"NOT coalesce(r.{name}, false)"
    return None


def literal(value: str | None, type_name: str) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'::" + type_name


@dataclass(frozen=True)
class Write:
    """One client write: ``values`` (text casts of expressions over the picked row
    ``r``) are read from the naive copy, then the write is sent with them as literals
    to both copies, so a difference between the copies never feeds the next write."""

    table: Table
    kind: str  # insert | update
    columns: tuple[Column, ...]
    values: tuple[str, ...]
    serial: int

    def pick_sql(self) -> str:
        cells = ", ".join(f"({v})::text" for v in self.values)
        keys = ", ".join(f"r.{quote_ident(c.name)}::text" for c in self.table.key)
        source = self.table.rows_sql
        offset = self.serial * (7 if self.kind == "update" else 1)
        return (
            f"SELECT ARRAY[{cells}]::text[] AS vals, ARRAY[{keys}]::text[] AS keys "
            f"FROM {source} AS r ORDER BY {_order(self.table, 'r')} LIMIT 1 OFFSET {offset} % "
            f"greatest(1, (SELECT count(*) FROM {source}))"
        )

    def sql(self, values: list[str | None], keys: list[str | None]) -> str:
        source = quote_ident(self.table.name)
        cells = [literal(v, c.type) for v, c in zip(values, self.columns, strict=True)]
        if self.kind == "insert":
            names = ", ".join(quote_ident(c.name) for c in self.columns)
            return f"INSERT INTO {source} ({names}) VALUES ({', '.join(cells)})"
        sets = ", ".join(
            f"{quote_ident(c.name)} = {v}" for c, v in zip(self.columns, cells, strict=True)
        )
        where = " AND ".join(
            f"{quote_ident(c.name)} IS NULL"
            if k is None
            else f"{quote_ident(c.name)} = {literal(k, c.type)}"
            for c, k in zip(self.table.key, keys, strict=True)
        )
        return f"UPDATE {self.table.rows_sql} SET {sets} WHERE {where}"

    def returning_sql(self) -> str:
        """What to append to :meth:`sql` for the table (``oid``) and the text of the
        key columns (``keys``) of the rows it wrote."""
        keys = ", ".join(f"{quote_ident(c.name)}::text" for c in self.table.key)
        table = literal(quote_ident(self.table.name), "regclass")
        return f" RETURNING {table}::oid AS oid, ARRAY[{keys}]::text[] AS keys"


def _insert(table: Table, columns: tuple[Column, ...], serial: int) -> Write:
    values = tuple(
        _fresh_value(table, c, serial) if c.in_unique else f"r.{quote_ident(c.name)}"
        for c in columns
    )
    return Write(table, "insert", columns, values, serial)


def planned_writes(shape: Shape, serial: int) -> list[Write]:
    """The writes one client of ``shape`` sends in one window: per table, a copy of an
    existing row (unique columns made new), a row naming only the columns a client
    must write (NOT NULL without a default, unique), and one column of one row
    changed (the ``serial``-th changeable column, in turn)."""
    result: list[Write] = []
    for number, table in enumerate(sorted(shape.tables.values(), key=lambda t: t.name)):
        n = serial * 31 + number
        if table.writable:
            result.append(_insert(table, table.writable, n))
        required = tuple(
            c for c in table.writable if (c.not_null and c.default is None) or c.in_unique
        )
        if required:
            result.append(_insert(table, required, n + 1))
        changeable = [
            (c, value)
            for c in table.writable
            if not c.in_primary and (value := _changed_value(table, c, n)) is not None
        ]
        if changeable:
            column, value = changeable[n % len(changeable)]
            result.append(Write(table, "update", (column,), (value,), n))
    return result


async def sql_of(naive: asyncpg.Connection, write: Write) -> str | None:
    """The SQL of ``write``, its values read from ``naive`` now (None: no row to pick,
    or a value this shape cannot make)."""
    try:
        row = await naive.fetchrow(write.pick_sql())
    except asyncpg.PostgresError:
        return None
    return None if row is None else write.sql(list(row["vals"]), list(row["keys"]))


async def writes(naive: asyncpg.Connection, shape: Shape, serial: int) -> list[str]:
    """The SQL of one client's writes in one window, values read from ``naive`` first
    (the timing client of the benchmark: its writes are rolled back)."""
    statements = []
    for write in planned_writes(shape, serial):
        sql = await sql_of(naive, write)
        if sql is not None:
            statements.append(sql)
    return statements
