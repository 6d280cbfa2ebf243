"""Failures and the ways out: a failing transactional migration changes nothing; a
no-transaction migration that stops part-way is recorded and recoverable with
``repair`` or ``up --resume``; a failed concurrent build's INVALID index is reported."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.helpers import start_cli
from tests.runner.conftest import USERS, Project

SNAPSHOT_LEDGER = (
    "SELECT version, name, up_checksum, down_checksum, applied_at, applied_by, duration_ms, "
    "transactional, phase, state, direction, statements_done, statements_total, error, "
    "progress FROM migrator_ledger ORDER BY version"
)
SNAPSHOT_SCHEMA = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'public' ORDER BY 1, 2"
)


def _wait_until(condition: Callable[[], object], seconds: float = 20) -> None:
    """Poll ``condition`` until it holds or ``seconds`` pass (the caller asserts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


def _start_up(project: Project) -> subprocess.Popen[str]:
    """``migrate up`` on the project as a real process (to signal or kill it)."""
    return start_cli("--dir", str(project.directory), "--database-url", project.database_url, "up")


def _snapshot(project: Project) -> tuple[Any, ...]:
    return (
        project.query(SNAPSHOT_LEDGER),
        project.query(SNAPSHOT_SCHEMA),
        project.query("SELECT * FROM users ORDER BY id"),
    )


def test_failing_transactional_migration_leaves_schema_and_ledger_as_before(
    project: Project,
) -> None:
    project.write(USERS)
    project.migrate("up", "--to", "1")
    project.query("INSERT INTO users VALUES (1, 'a@example.com')")
    project.write(
        {
            "003_accounts.up.sql": (
                "CREATE TABLE accounts (id int);\n"
                "ALTER TABLE users ADD COLUMN name text;\n"
                "INSERT INTO users VALUES (2, 'b@example.com', 'b');\n"
                "SELECT no_such_function(1);\n"
            ),
            "003_accounts.down.sql": "DROP TABLE accounts;\n",
        }
    )
    project.remove("002_create_orders.up.sql", "002_create_orders.down.sql")
    before = _snapshot(project)

    result = project.migrate("up")

    assert result.code == 4
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    assert "003_accounts.up.sql:4: applying 003_accounts failed" in line
    assert "function no_such_function(integer) does not exist" in line
    assert "HINT: No function matches" in line  # the server's hint
    assert "nothing was changed (its transaction rolled back)" in line
    assert "Traceback" not in result.output
    assert _snapshot(project) == before
    assert project.history() == [(1, "up"), (3, "failure")]
    # nothing to recover from: the next run just tries again
    project.write({"003_accounts.up.sql": "CREATE TABLE accounts (id int);\n"})
    assert project.migrate("up").code == 0
    assert "accounts" in project.tables()


NO_TRANSACTION = {
    **USERS,
    "003_emails.up.sql": (
        "-- migrate:no-transaction\n"
        "CREATE TABLE audit (id int);\n"
        "INSERT INTO users VALUES (10, 'dup@example.com'), (11, 'dup@example.com');\n"
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_unique ON users (email);\n"
        "CREATE TABLE after_index (id int);\n"
    ),
    "003_emails.down.sql": (
        "-- migrate:no-transaction\n"
        "DROP TABLE after_index;\n"
        "DROP INDEX CONCURRENTLY users_email_unique;\n"
        "DELETE FROM users WHERE id IN (10, 11);\n"
        "DROP TABLE audit;\n"
    ),
}


def _fail_at_the_index(project: Project) -> str:
    project.write(NO_TRANSACTION)
    result = project.migrate("up")
    assert result.code == 4, result.output
    return result.stderr


def test_failed_no_transaction_run_is_recorded_with_its_invalid_index(project: Project) -> None:
    stderr = _fail_at_the_index(project)

    assert "003_emails.up.sql:4: applying 003_emails failed" in stderr
    assert "could not create unique index" in stderr
    assert "INVALID index public.users_email_unique on users" in stderr
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."users_email_unique";' in stderr
    assert "migrate up --resume" in stderr and "migrate repair 3" in stderr
    # statements 1 and 2 stay applied and are recorded as done
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 2), (3, "failed", 2)]
    error = project.scalar("SELECT error FROM migrator_ledger WHERE version = 3")
    assert "could not create unique index" in error
    assert "audit" in project.tables() and "after_index" not in project.tables()
    assert project.history()[-1] == (3, "failure")

    # later runs refuse, naming the file, the statement and the ways out
    again = project.migrate("up")
    assert again.code == 4
    assert "cannot run `migrate up`" in again.stderr
    assert "003_emails.up.sql:4 (statement 3 of 4)" in again.stderr
    assert "migrate up --resume" in again.stderr and "--mark-applied" in again.stderr
    assert "DROP INDEX CONCURRENTLY IF EXISTS" in again.stderr
    assert project.migrate("down").code == 4

    status = project.migrate("status")
    assert "failed (2/4 statements)" in status.stdout
    verify = project.migrate("verify")
    assert verify.code == 1
    assert "failed: applying 003_emails failed" in verify.stdout
    assert "invalid-index: INVALID index public.users_email_unique" in verify.stdout


def test_resume_refuses_while_the_invalid_index_is_there_then_continues(
    project: Project,
) -> None:
    _fail_at_the_index(project)

    blocked = project.migrate("up", "--resume")
    assert blocked.code == 4
    assert "its next statement (line 4) builds index users_email_unique" in blocked.stderr
    assert (
        'drop it first with: DROP INDEX CONCURRENTLY IF EXISTS "public"."users_email_unique"'
        in (blocked.stderr)
    )

    project.query('DROP INDEX CONCURRENTLY IF EXISTS "public"."users_email_unique"')
    project.query("DELETE FROM users WHERE id = 11")
    resumed = project.migrate("up", "--resume")

    assert resumed.code == 0, resumed.output
    assert "from statement 3" in resumed.stderr
    assert project.ledger()[-1] == (3, "applied", 4)
    assert {"audit", "after_index"} <= project.tables()
    # statements 1-2 ran once: resuming did not repeat them
    assert project.scalar("SELECT count(*) FROM users WHERE id = 10") == 1
    assert project.migrate("verify").code == 0


def test_repair_shows_the_change_and_applies_it_only_with_yes(project: Project) -> None:
    _fail_at_the_index(project)

    ambiguous = project.migrate("repair")
    assert ambiguous.code == 2
    assert "--mark-applied" in ambiguous.stderr and "--forget" in ambiguous.stderr

    preview = project.migrate("repair", "3", "--mark-applied")
    assert preview.code == 0, preview.output
    assert "change: record 003_emails as applied (state failed -> applied)" in preview.stdout
    assert "nothing changed yet: run again with --yes" in preview.stdout
    assert "note: INVALID index public.users_email_unique" in preview.stdout
    assert project.ledger()[-1] == (3, "failed", 2)

    # a human finishes the migration by hand, then records it
    project.query("DROP INDEX CONCURRENTLY users_email_unique")
    project.query("DELETE FROM users WHERE id = 11")
    project.query("CREATE UNIQUE INDEX CONCURRENTLY users_email_unique ON users (email)")
    project.query("CREATE TABLE after_index (id int)")
    applied = project.migrate("repair", "3", "--mark-applied", "--yes")

    assert applied.code == 0, applied.output
    assert "repaired: 1 ledger change(s) applied" in applied.stdout
    assert project.ledger()[-1][:2] == (3, "applied")
    assert project.history()[-1] == (3, "repair")
    assert project.migrate("up").code == 0
    assert project.migrate("verify").code == 0


def test_repair_forget_then_up_runs_the_migration_again(project: Project) -> None:
    _fail_at_the_index(project)
    # a human undoes what statements 1-2 did
    project.query('DROP INDEX CONCURRENTLY IF EXISTS "public"."users_email_unique"')
    project.query("DROP TABLE audit")
    project.query("DELETE FROM users WHERE id IN (10, 11)")
    project.write(
        {
            "003_emails.up.sql": NO_TRANSACTION["003_emails.up.sql"].replace(
                "(11, 'dup@example.com')", "(11, 'other@example.com')"
            )
        }
    )

    forgot = project.migrate("repair", "3", "--forget", "--yes")
    assert forgot.code == 0, forgot.output
    assert [v for v, _, _ in project.ledger()] == [1, 2]

    up = project.migrate("up")
    assert up.code == 0, up.output
    assert project.ledger()[-1] == (3, "applied", 4)
    # and the no-transaction down reverts it statement by statement
    down = project.migrate("down")
    assert down.code == 0, down.output
    assert "audit" not in project.tables()


def test_if_not_exists_build_over_an_invalid_leftover_fails_at_the_build_then_resumes(
    project: Project,
) -> None:
    """``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` would skip an INVALID index of its
    name and let the migration be recorded applied without a usable index: the build
    itself fails instead, so ``--resume`` runs it again once the leftover is gone."""
    project.write(USERS)
    assert project.migrate("up").code == 0
    project.query("INSERT INTO users VALUES (10, 'dup@example.com'), (11, 'dup@example.com')")
    with pytest.raises(psycopg.errors.UniqueViolation):  # a failed build by hand
        project.query("CREATE UNIQUE INDEX CONCURRENTLY users_email_unique ON users (email)")
    project.query("DELETE FROM users WHERE id = 11")
    project.write(
        {
            "003_emails.up.sql": (
                "-- migrate:no-transaction\n"
                "CREATE TABLE audit (id int);\n"
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_unique "
                "ON users (email);\n"
                "CREATE TABLE after_index (id int);\n"
            ),
            "003_emails.down.sql": "DROP TABLE after_index;\n",
        }
    )

    failed = project.migrate("up")

    assert failed.code == 4, failed.output
    assert "003_emails.up.sql:3: applying 003_emails failed" in failed.stderr
    assert "users_email_unique already existed INVALID" in failed.stderr
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."users_email_unique"' in failed.stderr
    assert project.ledger()[-1] == (3, "failed", 1)  # the build is not counted done
    assert "after_index" not in project.tables()

    project.query('DROP INDEX CONCURRENTLY "public"."users_email_unique"')
    resumed = project.migrate("up", "--resume")

    assert resumed.code == 0, resumed.output
    assert project.ledger()[-1] == (3, "applied", 3)
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_unique'::regclass"
    assert project.scalar(valid) is True
    assert "after_index" in project.tables()


def test_repair_records_new_checksums_after_drift(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")
    project.write({"002_create_orders.down.sql": "DROP TABLE IF EXISTS orders;\n"})
    assert project.migrate("verify").code == 1

    preview = project.migrate("repair")
    assert "changed on disk after it was applied" in preview.stdout
    assert project.migrate("verify").code == 1
    assert project.migrate("repair", "--yes").code == 0

    assert project.migrate("verify").code == 0
    assert project.history()[-1] == (2, "repair")


def test_connection_lost_mid_run_leaves_a_partial_row_then_resume(project: Project) -> None:
    """The migrating session is terminated while statement 2 runs: the run ends with the
    connection error (exit 3), the ledger says partial after 1 statement, and
    ``up --resume`` continues at statement 2."""
    project.write(
        {
            "001_slow.up.sql": (
                "-- migrate:no-transaction\n"
                "CREATE TABLE first (id int);\n"
                "SELECT pg_sleep(30);\n"
                "CREATE TABLE third (id int);\n"
            ),
            "001_slow.down.sql": "DROP TABLE third; DROP TABLE first;\n",
        }
    )
    process = _start_up(project)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if project.ledger() == [(1, "partial", 1)] and project.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'"
            ):
                break
            time.sleep(0.05)
        killed = project.scalar(
            "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'migrate' AND query LIKE 'SELECT pg_sleep%'"
        )
        assert killed
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 3, stderr
    assert "lost the connection" in stderr and "001_slow.up.sql:3" in stderr
    assert project.ledger() == [(1, "partial", 1)]
    status = project.migrate("status")
    assert "partial (1/3 statements)" in status.stdout
    refused = project.migrate("up")
    assert refused.code == 4 and "was interrupted" in refused.stderr

    project.write(
        {
            "001_slow.up.sql": project.directory.joinpath("001_slow.up.sql")
            .read_text()
            .replace("pg_sleep(30)", "pg_sleep(0)")
        }
    )
    resumed = project.migrate("up", "--resume")
    assert resumed.code == 0, resumed.output
    assert {"first", "third"} <= project.tables()
    assert project.ledger() == [(1, "applied", 3)]


def test_failed_no_transaction_down_resumes_with_down_resume(project: Project) -> None:
    project.write(NO_TRANSACTION)
    project.write(
        {
            "003_emails.up.sql": NO_TRANSACTION["003_emails.up.sql"].replace(
                "(11, 'dup@example.com')", "(11, 'other@example.com')"
            )
        }
    )
    assert project.migrate("up").code == 0
    project.query("CREATE VIEW audit_view AS SELECT * FROM audit")  # blocks DROP TABLE audit

    failed = project.migrate("down")
    assert failed.code == 4
    assert "003_emails.down.sql:5: reverting 003_emails failed" in failed.stderr
    assert "migrate down --resume" in failed.stderr
    assert project.ledger()[-1] == (3, "failed", 3)
    assert project.migrate("up").code == 4  # refused while the revert is unfinished

    project.query("DROP VIEW audit_view")
    resumed = project.migrate("down", "--resume")
    assert resumed.code == 0, resumed.output
    assert [v for v, _, _ in project.ledger()] == [1, 2]
    assert "audit" not in project.tables()


def test_statement_timeout_directive_applies(project: Project) -> None:
    project.write(
        {
            "001_slow.up.sql": "-- migrate:statement-timeout 100ms\nSELECT pg_sleep(2);\n",
            "001_slow.down.sql": "SELECT 1;\n",
        }
    )

    result = project.migrate("up", "--statement-timeout", "1min")

    assert result.code == 4
    assert "canceling statement due to statement timeout" in result.stderr
    assert project.ledger() == []


def test_ctrl_c_during_a_no_transaction_statement(project: Project) -> None:
    """SIGINT: exit 130, one line, the row says partial, no session (or lock) is left."""
    project.write(
        {
            "001_slow.up.sql": (
                "-- migrate:no-transaction\nCREATE TABLE first (id int);\nSELECT pg_sleep(30);\n"
            ),
            "001_slow.down.sql": "DROP TABLE first;\n",
        }
    )
    process = _start_up(project)
    try:
        _wait_until(lambda: project.ledger() == [(1, "partial", 1)])
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()

    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted"
    # where the migration that commits as it goes stopped, and what to do (hostile O14)
    assert (
        "001_slow was interrupted after statement 1/2 (it commits as it goes): "
        "migrate status shows it; migrate up --resume continues it"
    ) in stderr.splitlines()
    assert "Traceback" not in stderr
    assert project.ledger() == [(1, "partial", 1)]
    # the statement was cancelled: its session ends without waiting out pg_sleep(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and project.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate'"
    ):
        time.sleep(0.05)
    assert time.monotonic() < deadline


def test_sigterm_is_handled_like_ctrl_c(project: Project) -> None:
    """SIGTERM (a cancelled CI job, a stopped pod): the transaction rolls back, one
    line, exit 130, nothing recorded."""
    project.write({"001_slow.up.sql": "CREATE TABLE t (id int);\nSELECT pg_sleep(30);\n"})
    process = _start_up(project)
    try:
        _wait_until(
            lambda: project.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
                "AND pid <> pg_backend_pid()"
            )
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()

    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "was interrupted after" not in stderr  # rolled back whole: nothing to resume
    assert project.ledger() == []
    assert "t" not in project.tables()


def test_status_and_verify_tell_a_run_under_way_from_an_interrupted_one(
    project: Project,
) -> None:
    project.write(
        {
            "001_slow.up.sql": (
                "-- migrate:no-transaction\nCREATE TABLE first (id int);\nSELECT pg_sleep(30);\n"
            ),
        }
    )
    process = _start_up(project)
    try:
        _wait_until(lambda: project.ledger() == [(1, "partial", 1)])
        status = project.migrate("status")
        verify = project.migrate("verify")
    finally:
        process.kill()
        process.communicate(timeout=20)

    assert "running (1/2 statements)" in status.stdout
    assert "being applied right now by pid" in verify.stdout + verify.stderr
    assert "interrupted" not in verify.stdout + verify.stderr


def test_a_killed_runner_does_not_leave_its_locks_held(project: Project) -> None:
    """SIGKILL during a long statement: the server notices the client is gone
    (client_connection_check_interval), rolls back and releases the table's ACCESS
    EXCLUSIVE lock, instead of holding it until the statement ends by itself."""
    project.query("CREATE TABLE busy (id int)")
    project.write(
        {
            "001_slow.up.sql": (
                "LOCK TABLE busy IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(120);\n"
            ),
            "001_slow.down.sql": "SELECT 1;\n",
        }
    )
    process = _start_up(project)
    sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%'"
    try:
        _wait_until(lambda: project.scalar(sleeping))
        assert project.scalar(sleeping) == 1
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=20)
    finally:
        process.kill()

    # well before pg_sleep(120) would end, the session is gone and the lock with it
    held = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'busy' AND l.mode = 'AccessExclusiveLock'"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (project.scalar(held) or project.scalar(sleeping)):
        time.sleep(0.1)
    assert project.scalar(held) == 0 and project.scalar(sleeping) == 0
    assert project.ledger() == []  # the migration's transaction rolled back
