"""Live facts from a database (``migrate lint --database-url``): server version, row
estimates, real column types.

This is the only lint module that talks to PostgreSQL, and it imports asyncpg only
inside :func:`read_live_facts`, so linting without ``--database-url`` never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from migrator.sql.names import QualifiedName, TypeRef, type_ref
from migrator.sql.parse import parse_one

_FACTS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS rows,
       a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a
       ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
"""


def parse_type(text: str) -> TypeRef | None:
    """The :class:`TypeRef` of a type as ``format_type`` writes it."""
    parsed = parse_one(f"SELECT NULL::{text}")
    if parsed is None:
        return None
    try:
        target = parsed[1]["targetList"][0]["ResTarget"]["val"]["TypeCast"]["typeName"]
    except (KeyError, IndexError, TypeError):
        return None
    return type_ref(target)


@dataclass(frozen=True)
class LiveFacts:
    """What the database said, for the tables it has."""

    server_version: int
    #: table -> rows (pg_class.reltuples; negative: never analyzed)
    rows: Mapping[QualifiedName, float] = field(default_factory=dict)
    #: (table, column) -> type as format_type wrote it
    column_types: Mapping[tuple[QualifiedName, str], str] = field(default_factory=dict)
    #: the masked URL the facts came from
    source: str = ""

    @property
    def major_version(self) -> int:
        return self.server_version // 10000

    def row_estimate(self, table: QualifiedName) -> int | None:
        rows = self.rows.get(table)
        if rows is None or rows < 0:
            return None
        return int(rows)

    def column_type(self, table: QualifiedName, column: str) -> TypeRef | None:
        text = self.column_types.get((table, column))
        return parse_type(text) if text else None

    def describe(self) -> list[str]:
        """One line per kind of fact, for the report."""
        return [
            f"server version {self.major_version} (from {self.source})",
            f"row estimates and column types of {len(self.rows)} tables (from {self.source})",
        ]


def facts_from_rows(
    server_version: int, records: Iterable[Mapping[str, object]], source: str
) -> LiveFacts:
    rows: dict[QualifiedName, float] = {}
    types: dict[tuple[QualifiedName, str], str] = {}
    #: (schema, table) -> its name, made once per table (a schema of thousands of
    #: tables has hundreds of thousands of column rows)
    names: dict[tuple[object, object], QualifiedName] = {}
    for record in records:
        key = (record["schema"], record["name"])
        name = names.get(key)
        if name is None:
            name = names[key] = QualifiedName(str(key[0]), str(key[1]))
            rows[name] = float(record["rows"])  # type: ignore[arg-type]
        column = record["column"]
        if column is not None:
            types[(name, str(column))] = str(record["type"])
    return LiveFacts(server_version, rows, types, source)


def read_live_facts(dsn: str, *, timeout_ms: int = 10_000, wait_ms: int = 0) -> LiveFacts:
    """Connect (trying again for up to ``wait_ms`` while the server is not up yet),
    read the facts, disconnect. Raises :class:`ConnectionFailed` with the same one-line
    reasons as every other command (``migrator.db.connection``)."""
    import asyncio

    from migrator.db.connection import connect
    from migrator.dsn import mask_dsn

    async def read() -> LiveFacts:
        connection = await connect(dsn, timeout_ms=timeout_ms, wait_ms=wait_ms)
        try:
            version = int(await connection.fetchval("SHOW server_version_num"))
            records = await connection.fetch(_FACTS_SQL)
        finally:
            await connection.close()
        return facts_from_rows(version, records, mask_dsn(dsn))

    return asyncio.run(read())
