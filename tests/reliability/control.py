"""The test's own hands on the database under test: gates that hold a migration at an
exact point, sessions that hold snapshots or table locks, and the server's view of the
migrating backend (``pg_locks``, ``pg_stat_activity``, ``pg_stat_progress_create_index``).

A *gate* is an advisory lock key. A migration statement ``SELECT
pg_advisory_xact_lock(K)`` (or a trigger on the ledger calling :data:`GATE_FUNCTION`)
passes at once while the gate is open, and waits while the test holds the key: the
test then knows exactly where the run is, with no sleeps and no timing guesses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from tests.reliability.processes import MigrateProcess

T = TypeVar("T")

#: how long any wait for the server may take before the test fails
DEADLINE_S = 60.0

#: the gate that triggers on the ledger tables wait at
LEDGER_GATE_KEY = 720_001
GATE_SCHEMA = "reliability_gates"
GATE_FUNCTION = f"{GATE_SCHEMA}.gate"
_GATE_SETUP = f"""
CREATE SCHEMA IF NOT EXISTS {GATE_SCHEMA};
CREATE OR REPLACE FUNCTION {GATE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(TG_ARGV[0]::bigint);
    RETURN NEW;
END $$;
"""


def gate_statement(key: int) -> str:
    """The SQL a migration runs to pass gate ``key``."""
    return f"SELECT pg_advisory_xact_lock({key});"


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    process: MigrateProcess | None = None,
    deadline_s: float = DEADLINE_S,
) -> T:
    """Poll ``probe`` until it returns something; fail if ``process`` exits first."""
    deadline = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        found = probe()
        if found is not None:
            return found
        if process is not None and not process.running():
            raise AssertionError(f"migrate exited before {what}: {process.describe()}")
        if time.monotonic() > deadline:
            extra = f": {process.describe()}" if process is not None else ""
            raise AssertionError(f"timed out waiting for {what}{extra}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


class Control:
    """An autocommit session on the database under test."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.conn = psycopg.connect(database_url, autocommit=True)
        self._held: list[psycopg.Connection[Any]] = []

    def close(self) -> None:
        for conn in self._held:
            conn.close()
        self._held.clear()
        self.conn.close()

    def __enter__(self) -> Control:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain queries -----------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []

    def scalar(self, sql: str, *params: Any) -> Any:
        rows = self.query(sql, *params)
        return rows[0][0] if rows else None

    # -- gates ---------------------------------------------------------------------------

    def close_gate(self, key: int) -> None:
        self.conn.execute("SELECT pg_advisory_lock(%s)", (key,))

    def open_gate(self, key: int) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def gate_waiter(self, key: int) -> int | None:
        """The pid of the backend waiting at gate ``key``, if one is."""
        return self.scalar(  # type: ignore[no-any-return]
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = 0 AND objid = %s AND objsubid = 1",
            key,
        )

    def install_gate_functions(self) -> None:
        self.conn.execute(_GATE_SETUP)  # type: ignore[arg-type]

    def remove_gate_functions(self) -> None:
        """Drop the gate function and every trigger that calls it."""
        self.conn.execute(f"DROP SCHEMA IF EXISTS {GATE_SCHEMA} CASCADE")  # type: ignore[arg-type]

    # -- sessions that hold things -------------------------------------------------------

    def hold(self, *statements: str) -> psycopg.Connection[Any]:
        """A new session that opens a transaction, runs ``statements`` and keeps it open
        (a snapshot, a table lock) until :meth:`release`."""
        conn = psycopg.connect(self.database_url)
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
        self._held.append(conn)
        return conn

    def release_all(self) -> None:
        for conn in self._held:
            conn.rollback()
            conn.close()
        self._held.clear()

    # -- the migrating backend ----------------------------------------------------------

    def index_build_phase(self, phase: str) -> int | None:
        """The pid of a ``CREATE INDEX CONCURRENTLY`` in ``phase``, if one is."""
        return self.scalar(  # type: ignore[no-any-return]
            "SELECT pid FROM pg_stat_progress_create_index "
            "WHERE datname = current_database() AND phase = %s",
            phase,
        )

    def relation_lock_waiter(self, table: str) -> int | None:
        """The pid of a backend queued for a lock on ``table``, if one is."""
        return self.scalar(  # type: ignore[no-any-return]
            "SELECT pid FROM pg_locks WHERE locktype = 'relation' AND NOT granted "
            "AND relation = to_regclass(%s)",
            table,
        )

    def backend_alive(self, pid: int) -> bool:
        return bool(self.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid))

    def terminate(self, pid: int) -> None:
        self.conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    def wait_until_gone(self, pid: int) -> None:
        """Until backend ``pid`` has ended (its transaction is over, its locks freed)."""
        wait_for(lambda: None if self.backend_alive(pid) else True, f"backend {pid} to end")

    def wait_until_no_migrating_backends(self) -> None:
        """Until no session of ``migrate`` is left on this database: a killed process's
        other connections end when the server reads the closed socket, which is not at
        once on a loaded machine; one that stays past the deadline is an orphan."""
        wait_for(
            lambda: True if not self.migrating_backends() else None,
            "the killed migrate's sessions to end",
        )

    def migrating_backends(self) -> list[int]:
        """Sessions of ``migrate`` on this database."""
        return [
            pid
            for (pid,) in self.query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'migrate'"
            )
        ]
