"""Saying what happened when the ledger cannot be read or written: who holds a lock
on it, or which migration dropped it or took the runner's privileges on it. The
server's own message would point at the wrong cause ("permission denied for table
..._history (writing the ledger)", "the ledger marks 002 failed" once it is gone)."""

from __future__ import annotations

import contextlib

import asyncpg

from migrator.db.ledger import Ledger
from migrator.durations import format_ms
from migrator.errors import LockNotAcquired, MigrationFailed
from migrator.runner.server_errors import server_message

#: sessions other than this one holding a lock on the ledger tables that blocks reads
#: or writes (anything stronger than the row locks of ordinary writers)
_BLOCKERS = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), 'unnamed client') AS application,
       a.state, l.mode,
       extract(epoch FROM now() - coalesce(a.xact_start, a.state_change)) * 1000 AS held_ms
FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.relation IN (pg_catalog.to_regclass($1), pg_catalog.to_regclass($2))
  AND l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
ORDER BY a.xact_start NULLS LAST
LIMIT 3
"""


async def blockers(conn: asyncpg.Connection, ledger: Ledger) -> list[str]:
    """Each session holding a lock that blocks the ledger, described in one phrase
    (pid, application_name, state, lock mode, for how long)."""
    rows = await conn.fetch(_BLOCKERS, ledger.sql_name, ledger.history_sql_name)
    return [
        f"pid {row['pid']} ({row['application']}, state {row['state'] or 'unknown'!r}, "
        f"{row['mode']}, held for {format_ms(round(row['held_ms'] or 0))})"
        for row in rows
    ]


async def ledger_blocked(conn: asyncpg.Connection, ledger: Ledger, wait_ms: int) -> LockNotAcquired:
    """The error for a ledger read or write that waited ``wait_ms`` (``lock-wait``) for
    a lock another session holds on the ledger."""
    holders: list[str] = []
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        holders = await blockers(conn, ledger)
    who = "; ".join(holders) if holders else "a session that has since let go"
    first_pid = holders[0].split()[1] if holders else None
    end_it = (
        f"end that transaction (SELECT pg_terminate_backend({first_pid}) if it is stuck)"
        if first_pid
        else "run the command again"
    )
    return LockNotAcquired(
        f"the ledger {ledger.display_name} is locked by {who}; gave up after "
        f"waiting {format_ms(wait_ms)}",
        hint=f"{end_it}, or raise lock-wait (--lock-wait, MIGRATOR_LOCK_WAIT)",
    )


async def ledger_error(
    conn: asyncpg.Connection, ledger: Ledger, error: BaseException
) -> MigrationFailed:
    """The error for a ledger read or write (outside a migration) that the server
    refused: a missing privilege, a table that is not what it should be."""
    role = None
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        role = await conn.fetchval("SELECT current_user")
    as_role = f" as role {role}" if role else ""
    return MigrationFailed(
        f"cannot use the ledger {ledger.display_name}{as_role}: {server_message(error)}",
        hint="check the role's privileges on the ledger's schema and tables",
    )


async def damaged_by(
    conn: asyncpg.Connection,
    ledger: Ledger,
    error: BaseException,
    label: str,
    *,
    rolled_back: bool,
) -> str | None:
    """What migration ``label`` did to the ledger, when writing its row failed with
    ``error`` because of it (checked on ``conn``, a session the migration did not
    touch); ``None`` when the failure is something else. ``rolled_back``: the
    migration's transaction (and so what it did) was rolled back."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate not in ("42P01", "42501", "3F000"):
        return None
    state = None
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        state = await conn.fetchrow(
            "SELECT current_user AS role, to_regclass($1) IS NOT NULL AS ledger, "
            "to_regclass($2) IS NOT NULL AS history",
            ledger.sql_name,
            ledger.history_sql_name,
        )
    undone = (
        "; its transaction rolled back, so the migration and the ledger are as before"
        if rolled_back
        else ""
    )
    if sqlstate in ("42P01", "3F000"):
        if state is not None and state["ledger"] and state["history"] and not rolled_back:
            return None
        return (
            f"migration {label} dropped (or renamed) the ledger table {ledger.display_name} "
            f"or its history{undone}"
        )
    role = state["role"] if state is not None else "this role"
    return (
        f"the ledger {ledger.display_name} is not writable as role {role} after migration "
        f"{label} ran (it revoked a privilege on the ledger, or changed its owner){undone}"
    )
