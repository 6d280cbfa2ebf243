"""The connections a rehearsal runs migrations on, as ``migrate up`` has them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from migrator.db.connection import connect
from migrator.db.lock import HeldLock


@dataclass
class RehearsalSession:
    """The connections of a rehearsal, as ``migrate up`` has them. ``conn`` runs the
    migrations and reads the schema; ``lock``, when held, is the migration lock on a
    connection of its own that runs no migration SQL (it writes a no-transaction file's
    progress and is checked after each migration); ``dsn`` opens the new session that
    follows a migration that changed the defaults of new sessions."""

    conn: Any
    dsn: str | None = None
    lock: HeldLock | None = None

    async def renew(self) -> None:
        """A new ``conn``: a session that starts with the defaults as they are now."""
        if self.dsn is None:
            return
        old, self.conn = self.conn, await connect(self.dsn)
        with contextlib.suppress(Exception):  # the old session may be gone already
            await old.close(timeout=5)

    async def close(self) -> None:
        for conn in (self.conn, self.lock.conn if self.lock is not None else None):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)
