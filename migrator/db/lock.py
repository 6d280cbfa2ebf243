"""The migration lock: one runner per ledger at a time.

A session-level advisory lock keyed by :attr:`Ledger.lock_key`, taken by *polling*
``pg_try_advisory_lock`` in short separate statements with a sleep in between. A
runner blocked inside ``pg_advisory_lock`` would sit in an open transaction that
``CREATE INDEX CONCURRENTLY`` in the lock holder must wait for, while it waits for the
holder: a deadlock (Flyway #1654, golang-migrate #960). Polling never holds a
transaction open while waiting.

The lock belongs to the session, so it needs a direct connection (or PgBouncer in
session pooling mode): with transaction pooling the lock and the statements that
follow may land on different server connections.

The lock is held on a connection of its own that never runs migration SQL
(:class:`HeldLock`): a migration that calls ``pg_advisory_unlock_all()``, runs
``DISCARD ALL`` or unlocks our key on its own session cannot release it. Only the
holding session's end can, so the runner checks that session is still there before it
writes the ledger (:meth:`HeldLock.check`) and stops if it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable

import asyncpg

from migrator.durations import format_ms
from migrator.errors import LockLost, LockNotAcquired

#: pause between two attempts to take the lock (seconds), with a little jitter
POLL_INTERVAL_S = 0.1


async def lock_holder(conn: asyncpg.Connection, key: int) -> str | None:
    """Who holds the advisory lock ``key`` (pid, application, client), if anyone."""
    row = await conn.fetchrow(
        """
SELECT a.pid, a.application_name, a.client_addr::text AS client, a.usename,
       a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = (($1::bigint >> 32) & 4294967295)::oid
  AND l.objid = ($1::bigint & 4294967295)::oid
  AND l.objsubid = 1
LIMIT 1
""",
        key,
    )
    if row is None:
        return None
    client = row["client"] or "local socket"
    application = row["application_name"] or "unnamed client"
    return f"pid {row['pid']} ({application}, user {row['usename']}, from {client})"


async def try_lock(conn: asyncpg.Connection, key: int) -> bool:
    """One attempt: ``True`` when this session now holds the lock."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", key))


async def unlock(conn: asyncpg.Connection, key: int) -> None:
    """Release the lock (a no-op when the connection is already closed)."""
    if conn.is_closed():
        return
    with contextlib.suppress(Exception):  # a session already gone holds nothing
        await conn.fetchval("SELECT pg_advisory_unlock($1::bigint)", key)


async def acquire(
    conn: asyncpg.Connection,
    key: int,
    *,
    wait_ms: int,
    what: str,
    on_wait: Callable[[str | None], None] | None = None,
) -> None:
    """Take the lock, polling for up to ``wait_ms``; raise :class:`LockNotAcquired`.

    ``on_wait`` is called once, with the holder's description, when the first attempt
    finds the lock taken.
    """
    deadline = time.monotonic() + wait_ms / 1000
    waited = False
    while True:
        if await try_lock(conn, key):
            return
        if not waited:
            waited = True
            if on_wait is not None:
                on_wait(await lock_holder(conn, key))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            holder = await lock_holder(conn, key)
            raise LockNotAcquired(
                f"another migrate run holds the migration lock of {what} "
                f"({holder or 'holder unknown'}); gave up after {format_ms(wait_ms)}",
                hint="wait for it to finish, or raise lock-wait (--lock-wait, MIGRATOR_LOCK_WAIT)",
            )
        await asyncio.sleep(min(remaining, POLL_INTERVAL_S * random.uniform(0.5, 1.5)))


@contextlib.asynccontextmanager
async def migration_lock(
    conn: asyncpg.Connection,
    key: int,
    *,
    wait_ms: int,
    what: str,
    on_wait: Callable[[str | None], None] | None = None,
) -> AsyncIterator[None]:
    """Hold the migration lock for the body of a ``with`` block."""
    await acquire(conn, key, wait_ms=wait_ms, what=what, on_wait=on_wait)
    try:
        yield
    finally:
        await unlock(conn, key)


#: is the advisory lock ``$1`` held by this very session?
_HELD_HERE = """
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = pg_catalog.pg_backend_pid()
      AND classid = (($1::bigint >> 32) & 4294967295)::oid
      AND objid = ($1::bigint & 4294967295)::oid
      AND objsubid = 1
)
"""


class HeldLock:
    """The migration lock, held by ``conn``: a connection that never runs migration
    SQL (it reads and writes the ledger outside the migrations' transactions)."""

    def __init__(self, conn: asyncpg.Connection, key: int, what: str) -> None:
        self.conn = conn
        self.key = key
        self.what = what

    async def check(self) -> None:
        """Raise :class:`LockLost` unless the lock is still held: its session ended
        (terminated by ``pg_terminate_backend``, a server restart, the network)."""
        if self.conn.is_closed():
            raise self.lost("its connection is closed")
        try:
            held = bool(await self.conn.fetchval(_HELD_HERE, self.key))
        except Exception as exc:  # any failure here means the session is gone
            raise self.lost(f"its connection is gone ({exc.__class__.__name__})") from None
        if not held:
            raise self.lost("it is no longer held")

    def lost(self, cause: str) -> LockLost:
        return LockLost(
            f"lost the migration lock of {self.what}: {cause}; stopped before writing "
            "the ledger again, so another runner cannot apply a migration twice",
            hint="see `migrate status` (each migration that completed is recorded); find "
            "what ended the session (pg_terminate_backend, a restart) and run the command again",
        )


async def hold(
    conn: asyncpg.Connection,
    key: int,
    *,
    wait_ms: int,
    what: str,
    on_wait: Callable[[str | None], None] | None = None,
) -> HeldLock:
    """Take the lock on ``conn`` (see :func:`acquire`), for ``conn`` to keep."""
    await acquire(conn, key, wait_ms=wait_ms, what=what, on_wait=on_wait)
    return HeldLock(conn, key, what)
