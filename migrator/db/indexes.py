"""Indexes left INVALID by a failed ``CREATE INDEX CONCURRENTLY`` (or ``REINDEX
CONCURRENTLY``): they are not used by queries but still slow every write."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from migrator.db.quoting import quote_ident, quote_qualified


@dataclass(frozen=True)
class InvalidIndex:
    schema: str
    name: str
    table: str

    @property
    def drop_statement(self) -> str:
        """The statement that removes it without blocking writes."""
        return f"DROP INDEX CONCURRENTLY IF EXISTS {quote_qualified(self.schema, self.name)};"

    def describe(self) -> str:
        return f"INVALID index {self.schema}.{self.name} on {self.table}"


async def invalid_indexes(conn: asyncpg.Connection) -> list[InvalidIndex]:
    """Every index with ``pg_index.indisvalid = false`` outside the system schemas."""
    rows = await conn.fetch(
        """
SELECT n.nspname AS schema, c.relname AS name, t.relname AS table_name
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class t ON t.oid = i.indrelid
WHERE NOT i.indisvalid
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2
"""
    )
    return [InvalidIndex(row["schema"], row["name"], row["table_name"]) for row in rows]


async def index_is_invalid(
    conn: asyncpg.Connection, table_schema: str | None, table: str, name: str
) -> bool:
    """Whether the index ``name`` of ``table`` (in the table's schema, as PostgreSQL
    puts it) exists and is INVALID."""
    table_sql = quote_qualified(table_schema, table) if table_schema else quote_ident(table)
    invalid = await conn.fetchval(
        """
SELECT NOT i.indisvalid
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = $1
  AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass($2))
""",
        name,
        table_sql,
    )
    return bool(invalid)
