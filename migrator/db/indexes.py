"""Indexes left INVALID by a failed ``CREATE INDEX CONCURRENTLY`` (or ``REINDEX
CONCURRENTLY``): they are not used by queries but still slow every write."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from migrator.db.quoting import quote_qualified


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
