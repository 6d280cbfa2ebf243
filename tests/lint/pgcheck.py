"""Run a lint case on a real PostgreSQL and observe what the rule's judgement is about:
was the table rewritten (its relfilenode changed), which indexes were rebuilt, did the
statement scan the table (``pg_stat_user_tables.seq_scan``), which existing tables does
the transaction hold in a lock that blocks writes, did it fail.

The session's time zone is set to one with daylight saving time first (a server's
``TimeZone`` is often not UTC, and the linter cannot know it): only a ``SET timezone``
in the migration itself makes it UTC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from migrator.sql.names import quote_ident

#: the session's time zone before the migration runs (not UTC, has daylight saving)
SESSION_TIME_ZONE = "America/New_York"
#: lock modes that block writes to a table
_WRITE_BLOCKING = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


@dataclass
class Observed:
    """What PostgreSQL did with the migration."""

    rewritten: bool = False
    rebuilt: set[str] = field(default_factory=set)
    seq_scans: int = 0
    failed: str | None = None
    #: existing tables held in a write-blocking lock at the end of the migration
    locked: set[str] = field(default_factory=set)
    #: rows the migration added to the table (negative: removed)
    inserted: int = 0


_FILENODES = """
SELECT c.relname, pg_relation_filenode(c.oid)
FROM pg_class c
WHERE c.oid = to_regclass($1)
   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = to_regclass($1))
"""
_SEQ_SCANS = """
SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables
WHERE relname = $1 AND schemaname = current_schema()
"""
_LOCKED = """
SELECT DISTINCT c.relname
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.mode = ANY($1::text[]) AND c.relkind IN ('r', 'p')
  AND c.relname = ANY($2::text[]) AND c.relnamespace = current_schema()::regnamespace
"""


async def _observe(dsn: str, before: Sequence[str], sql: str, table: str, schema: str) -> Observed:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            f"CREATE SCHEMA {quote_ident(schema)}; SET search_path = {quote_ident(schema)};"
            f"SET timezone = '{SESSION_TIME_ZONE}'"
        )
        for text in before:
            await connection.execute(text)
        tables = [
            row[0]
            for row in await connection.fetch(
                "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
                "AND relnamespace = current_schema()::regnamespace"
            )
        ]
        count = f"SELECT count(*) FROM {quote_ident(table)}"
        rows_before = await connection.fetchval(count)  # a scan, before the counting
        await connection.execute("SELECT pg_stat_force_next_flush()")
        scans_before = await connection.fetchval(_SEQ_SCANS, table)
        nodes_before = dict(await connection.fetch(_FILENODES, table))
        observed = Observed()
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute(sql)
            observed.locked = {
                row[0] for row in await connection.fetch(_LOCKED, list(_WRITE_BLOCKING), tables)
            }
        except asyncpg.PostgresError as exc:
            observed.failed = str(exc)
            await transaction.rollback()
        else:
            await transaction.commit()
        await connection.execute("SELECT pg_stat_force_next_flush()")
        observed.seq_scans = await connection.fetchval(_SEQ_SCANS, table) - scans_before
        nodes_after = dict(await connection.fetch(_FILENODES, table))
        if await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            observed.inserted = await connection.fetchval(count) - rows_before
        for name, node in nodes_before.items():
            if name in nodes_after and nodes_after[name] != node:
                if name == table:
                    observed.rewritten = True
                else:
                    observed.rebuilt.add(name)
        return observed
    finally:
        await connection.close()


def assert_observed(seen: Observed, expected: Mapping[str, Any]) -> None:
    """``seen`` is what ``expected`` (a case's or a fact's table) states."""
    if "fails" in expected:
        assert (seen.failed is not None) is expected["fails"], seen
    else:
        assert seen.failed is None, seen.failed
    if "rewrite" in expected:
        assert seen.rewritten is expected["rewrite"], seen
    if "rebuilt" in expected:
        assert seen.rebuilt == set(expected["rebuilt"]), seen
    if "scan" in expected:
        assert (seen.seq_scans > 0) is expected["scan"], seen
    if "inserted" in expected:
        assert seen.inserted == expected["inserted"], seen
    if "locked" in expected:
        assert seen.locked == set(expected["locked"]), seen


def observe(dsn: str, before: Sequence[str], sql: str, table: str, schema: str) -> Observed:
    """Run ``before`` (schema and rows), then ``sql`` in one transaction, on ``dsn``, in
    a new schema of that name (so that several observations can share a database)."""
    return asyncio.run(_observe(dsn, before, sql, table, schema))


def schema_name(text: str) -> str:
    """A schema name made of ``text`` (a case id or fact name)."""
    return "x_" + "".join(c if c.isalnum() else "_" for c in text.lower())[:60]
