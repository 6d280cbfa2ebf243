"""The migrating session's own state: set up once, and put back after EVERY migration.

A migration can change its session for good in many ways: ``SET search_path`` or
``SET ROLE`` in a transaction that commits, ``set_config(..., false)`` anywhere (a
``SELECT``, a ``DO`` block, a ``CREATE TABLE AS``, a trigger), ``SET SESSION
AUTHORIZATION``, ``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY``, a temp table
that shadows a real one, ``PREPARE``, ``LISTEN``, ``nextval`` (``currval``), a
``WITH HOLD`` cursor, a session advisory lock. Which statements do it cannot be told
from the text, so the runner does not guess: after every migration, unconditionally,
it puts the session back as ``DISCARD ALL`` would, keeping only its own prepared ledger
writes (:func:`reset_statements`).

The reset of a transactional migration travels inside its transaction, just before the
ledger write and ``COMMIT`` (:func:`reset_in_transaction`): it costs no round trip, it
commits with the migration, and the next migration's ``BEGIN`` then starts a
transaction with the session's default characteristics (sent after ``COMMIT`` in the
same string, a ``RESET`` would run in an implicit transaction already read-only, and
the ``BEGIN`` would inherit that: SQLSTATE 25006). A no-transaction migration, or one
that failed, is followed by the reset as a string of its own, outside any transaction
block (:func:`reset`).

Dropping what a migration ``PREPARE``d takes a ``DO`` block that reads the session's
prepared statements, most of the reset's cost. In a string of several migrations
(:mod:`migrator.runner.batch`) only the last one's reset holds it; every migration
after the first starts with the ledger's check instead
(:attr:`~migrator.db.ledger.Ledger.check_sql`, a prepared query, a sixth of the cost),
which stops the string before that migration runs when the one before left a prepared
statement: the runner then resets the session and runs the migration on its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

#: how often the server checks, during a long statement, that this client is still
#: connected (PostgreSQL 14+)
CLIENT_CHECK_INTERVAL_MS = 1000

#: back to the role the runner logged in as (also inside a transaction block)
RESET_ROLE = "RESET SESSION AUTHORIZATION; RESET ROLE"

#: the runner's role and search path for the rest of a migration's transaction only:
#: a ledger write inside a transaction that must not end the migration's session
#: settings (a segment of a file with commit points: a ``SET ROLE`` before a commit
#: point lasts, as in PostgreSQL); they come back at ``COMMIT``
LEDGER_WRITE_IN_TRANSACTION = (
    "SET LOCAL SESSION AUTHORIZATION DEFAULT; SET LOCAL role TO DEFAULT; "
    "SET LOCAL search_path TO DEFAULT"
)

#: ``DEALLOCATE`` of every prepared statement a migration made with ``PREPARE`` (also
#: through ``EXECUTE`` in a function), keeping the names given; those asyncpg prepared
#: through the protocol (``from_sql`` false) are its own statement cache
_DEALLOCATE_THEIRS = """DO $migrator_reset$
DECLARE prepared text;
BEGIN
    FOR prepared IN SELECT name FROM pg_catalog.pg_prepared_statements
                    WHERE from_sql AND name <> ALL (ARRAY[{kept}]::text[]) LOOP
        EXECUTE 'DEALLOCATE ' || pg_catalog.quote_ident(prepared);
    END LOOP;
END
$migrator_reset$"""


def setup_sql(conn: asyncpg.Connection) -> str:
    """The runner's session settings. ``client_connection_check_interval``: a
    ``migrate`` process killed (SIGKILL, an OOM kill, a cancelled CI job) during a long
    ``ALTER TABLE`` would otherwise leave its statement running, and its ACCESS
    EXCLUSIVE lock queueing every reader, until the server next writes to the dead
    socket; with it (PostgreSQL 14+) the server checks the socket every second during
    a statement, rolls back and releases the locks."""
    if conn.get_server_version().major >= 14:
        return f"SET client_connection_check_interval = {CLIENT_CHECK_INTERVAL_MS}"
    return ""


def reset_statements(
    conn: asyncpg.Connection, kept_prepared: Iterable[str] = (), *, deallocate: bool = True
) -> list[str]:
    """What ``DISCARD ALL`` does, statement by statement so that it may run inside a
    transaction block, then the runner's own set-up again:

    - role and session authorization (``SET ROLE``, ``SET SESSION AUTHORIZATION``);
    - every setting however it was set, including the defaults of later transactions
      (``SET SESSION CHARACTERISTICS``, ``default_transaction_read_only``);
    - cursors, ``LISTEN``, temp tables, sequence state (``currval``), session advisory
      locks (the migration lock is held on another connection);
    - prepared statements made by ``PREPARE``, except ``kept_prepared`` (the ledger
      writes; ``DISCARD ALL`` would also drop asyncpg's statement cache). Without
      ``deallocate`` they stay: only for a migration that the ledger's check follows
      in the same string (:attr:`~migrator.db.ledger.Ledger.check_sql`), which stops
      the string when one is left.
    """
    statements = [
        RESET_ROLE,
        "RESET ALL",
        "CLOSE ALL",
        "UNLISTEN *",
        "DISCARD TEMP",
        "DISCARD SEQUENCES",
        "SELECT pg_catalog.pg_advisory_unlock_all()",
    ]
    if deallocate:
        kept = ", ".join(f"'{name}'" for name in kept_prepared) or "NULL"
        statements.append(_DEALLOCATE_THEIRS.format(kept=kept))
    setup = setup_sql(conn)
    if setup:
        statements.append(setup)
    return statements


def reset_in_transaction(
    conn: asyncpg.Connection, kept_prepared: Iterable[str] = (), *, deallocate: bool = True
) -> str:
    """The reset as part of a string, inside a migration's transaction before its
    ledger write (which then runs as the runner's role, whatever the migration set)."""
    return ";\n".join(reset_statements(conn, kept_prepared, deallocate=deallocate))


async def reset(conn: asyncpg.Connection, kept_prepared: Iterable[str] = ()) -> None:
    """Put the session back, outside a transaction block: one string, committed on its
    own. Any read-only default the migration set is reset before the string's implicit
    transaction writes anything (the reset writes nothing)."""
    await conn.execute(reset_in_transaction(conn, kept_prepared))
