"""Locks: lock-timeout retries that keep readers moving, the migration lock between
runners (polling, with a clear error when the wait expires), and eight concurrent
``migrate up`` processes that apply each migration exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg

from migrator.db.ledger import Ledger
from tests.helpers import start_cli
from tests.runner.conftest import USERS, Project

ADD_COLUMN = {
    "003_add_name.up.sql": "ALTER TABLE users ADD COLUMN name text;\n",
    "003_add_name.down.sql": "ALTER TABLE users DROP COLUMN name;\n",
}
LOCK_TIMEOUT_MS = 300
NAME_COLUMN = (
    "SELECT count(*) FROM information_schema.columns "
    "WHERE table_name = 'users' AND column_name = 'name'"
)


def _hold(project: Project, sql: str, release_after: float | None) -> threading.Thread:
    """Run ``sql`` in a transaction on another session and keep it open."""
    ready = threading.Event()

    def hold() -> None:
        with psycopg.connect(project.database_url) as conn:
            conn.execute(sql)
            ready.set()
            time.sleep(release_after if release_after is not None else 3600)
            conn.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread


def _hold_table(project: Project, release_after: float | None) -> threading.Thread:
    """Open a transaction that reads ``users`` (ACCESS SHARE) and keep it open."""
    return _hold(project, "SELECT count(*) FROM users", release_after)


class Reader:
    """Keeps reading ``users`` on its own connection and remembers the slowest read."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.slowest = 0.0
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                began = time.monotonic()
                conn.execute("SELECT count(*) FROM users").fetchall()
                self.slowest = max(self.slowest, time.monotonic() - began)
                self.reads += 1
                time.sleep(0.01)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_lock_timeout_is_retried_until_the_lock_is_released(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")
    project.write(ADD_COLUMN)
    holder = _hold_table(project, release_after=0.8)

    result = project.migrate("up", "--lock-timeout", f"{LOCK_TIMEOUT_MS}ms", "--lock-retries", "20")
    holder.join(10)

    assert result.code == 0, result.output
    expected = f"003_add_name: lock timeout ({LOCK_TIMEOUT_MS}ms, line 1) (attempt 1 of 21)"
    assert f"{expected}; retrying in" in result.stderr
    assert "applied 003_add_name" in result.stderr and "attempts)" in result.stderr
    assert project.scalar(NAME_COLUMN) == 1
    assert project.history().count((3, "up")) == 1


def test_lock_held_past_every_retry_fails_cleanly_without_blocking_readers(
    project: Project,
) -> None:
    project.write(USERS)
    project.migrate("up")
    project.write(ADD_COLUMN)
    before = project.ledger()
    _hold_table(project, release_after=None)

    with Reader(project.database_url) as reader:
        result = project.migrate(
            "up", "--lock-timeout", f"{LOCK_TIMEOUT_MS}ms", "--lock-retries", "3"
        )

    assert result.code == 4
    assert result.stderr.count("retrying in") == 3
    last = result.stderr.strip().splitlines()[-1]
    assert (
        "003_add_name.up.sql:1: applying 003_add_name failed: canceling statement due to "
        "lock timeout" in last
    )
    assert f"(lock_timeout {LOCK_TIMEOUT_MS}ms, 4 attempt(s))" in last
    assert "nothing was changed" in last
    assert project.ledger() == before
    assert project.scalar(NAME_COLUMN) == 0
    # the queued ALTER blocked readers for at most about one lock_timeout at a time
    assert reader.reads > 0
    assert reader.slowest < 3 * LOCK_TIMEOUT_MS / 1000


def _hold_migration_lock(project: Project) -> psycopg.Connection:
    conn = psycopg.connect(project.database_url, autocommit=True)
    conn.execute("SET application_name = 'other deploy'")
    conn.execute("SELECT pg_advisory_lock(%s)", (Ledger().lock_key,))
    return conn


def test_lock_wait_expires_with_a_clear_error(project: Project) -> None:
    project.write(USERS)
    holder = _hold_migration_lock(project)
    try:
        result = project.migrate("up", "--lock-wait", "300ms")
    finally:
        holder.close()

    assert result.code == 3
    assert "another migrate run holds the migration lock of ledger public.migrator_ledger" in (
        result.stderr
    )
    assert "(other deploy, user postgres" in result.stderr
    assert "gave up after 300ms" in result.stderr
    assert project.tables() == set()


def test_waits_for_the_migration_lock_then_runs(project: Project) -> None:
    project.write(USERS)
    holder = _hold_migration_lock(project)
    threading.Timer(0.5, holder.close).start()

    result = project.migrate("up", "--lock-wait", "10s")

    assert result.code == 0, result.output
    assert "waiting for the migration lock of ledger public.migrator_ledger" in result.stderr
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 2)]


CONCURRENT = {
    "001_users.up.sql": (
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"
        "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 5000) g;\n"
        "SELECT pg_sleep(0.5);\n"
    ),
    "001_users.down.sql": "DROP TABLE users;\n",
    "002_users_email.up.sql": (
        "-- migrate:no-transaction\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        "SELECT pg_sleep(0.3);\n"
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_unique ON users (email);\n"
    ),
    "002_users_email.down.sql": (
        "-- migrate:no-transaction\n"
        "DROP INDEX CONCURRENTLY users_email_unique;\n"
        "DROP INDEX CONCURRENTLY users_email;\n"
    ),
    "003_orders.up.sql": "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n",
    "003_orders.down.sql": "DROP TABLE orders;\n",
    "004_orders_user.up.sql": (
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY orders_user_id ON orders (user_id);\n"
    ),
    "004_orders_user.down.sql": (
        "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY orders_user_id;\n"
    ),
}


def test_eight_concurrent_runs_apply_each_migration_exactly_once(
    project: Project, tmp_path: Path
) -> None:
    project.write(CONCURRENT)
    processes = [
        start_cli(
            "--dir",
            str(project.directory),
            "--database-url",
            project.database_url,
            "up",
            cwd=tmp_path,
        )
        for _ in range(8)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    codes = [process.returncode for process in processes]
    assert codes == [0] * 8, outputs
    combined = "".join(out + err for out, err in outputs)
    assert "deadlock" not in combined
    assert combined.count("applied 4 migrations") == 1
    assert combined.count("nothing to apply; now at version 4") == 7
    assert project.history() == [(1, "up"), (2, "up"), (3, "up"), (4, "up")]
    assert project.ledger() == [
        (1, "applied", 3),
        (2, "applied", 3),
        (3, "applied", 1),
        (4, "applied", 1),
    ]
    assert project.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0
    assert project.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'users'") == 3


CONCURRENT_INDEX = {
    "003_email_index.up.sql": (
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
    ),
    "003_email_index.down.sql": (
        "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY users_email;\n"
    ),
}


def test_concurrent_build_that_timed_out_before_creating_anything_is_retried(
    project: Project,
) -> None:
    project.write(USERS)
    project.migrate("up")
    project.write(CONCURRENT_INDEX)
    holder = _hold(project, "LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE", 0.8)

    result = project.migrate("up", "--lock-timeout", "200ms", "--lock-retries", "20")
    holder.join(10)

    assert result.code == 0, result.output
    assert "003_email_index: lock timeout (200ms, line 2) (attempt 1 of 21)" in result.stderr
    assert project.ledger()[-1] == (3, "applied", 1)
    assert project.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0


def test_concurrent_build_that_left_an_invalid_index_is_not_retried(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")
    project.write(CONCURRENT_INDEX)
    # an open writer: the build creates its (invalid) index, then times out waiting
    _hold(project, "INSERT INTO users VALUES (1, 'a@example.com')", None)

    result = project.migrate("up", "--lock-timeout", "200ms", "--lock-retries", "5")

    assert result.code == 4
    assert "retrying" not in result.stderr
    assert "canceling statement due to lock timeout" in result.stderr
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."users_email";' in result.stderr
    assert project.ledger()[-1] == (3, "failed", 0)
