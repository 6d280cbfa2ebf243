"""The rehearsal (``migrate dry-run``) meets what ``migrate up`` meets: a migration that
ends the runner's other sessions, or changes the defaults of new sessions, fails or
goes on in the rehearsal exactly as it does in the real run (hostile findings O1)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from migrator.ephemeral import EphemeralServer
from tests.reliability.test_session_defaults import _as_role, role
from tests.runner.conftest import Project

__all__ = ["role"]  # the fixture

#: ends every other session of the database: ``up``'s lock connection among them
KILL_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE pid <> pg_backend_pid() AND datname = current_database();\nSELECT 1;\n"
)
BASE = {
    "001_counter.up.sql": "CREATE TABLE counter (n int);\n",
    "003_count.up.sql": "INSERT INTO counter VALUES (1);\n",
}


@pytest.fixture
def project(database_url: str, tmp_path: Path) -> Project:
    return Project(tmp_path / "migrations", database_url, tmp_path)


@pytest.mark.parametrize("header", ["-- migrate:no-transaction\n", ""], ids=["no-tx", "tx"])
def test_a_migration_that_ends_the_other_sessions_fails_the_rehearsal_as_up(
    header: str, project: Project
) -> None:
    project.write({**BASE, "002_kill.up.sql": header + KILL_OTHERS})

    rehearsal = project.migrate("dry-run", "--no-lint")
    up = project.migrate("up")

    assert up.code == 3, up.output
    assert "Traceback" not in up.output + rehearsal.output
    assert "002_kill: FAILED" in rehearsal.stdout, rehearsal.output
    assert "003_count: not run" in rehearsal.stdout
    assert rehearsal.code == 1, rehearsal.output
    # the same cause, in the words of ``up``
    cause = "lost the connection" if header else "lost the migration lock"
    assert cause in rehearsal.stdout and cause in up.stderr, (rehearsal.output, up.output)
    assert "another operation" not in rehearsal.output + up.output  # asyncpg's words


#: fails unless its session started after 002 changed the role's defaults (as in psql,
#: file by file, and in ``migrate up``)
NEW_SESSION_PROBE = (
    "DO $$ BEGIN IF current_setting('work_mem') <> '7MB' THEN "
    "RAISE EXCEPTION 'ran in a session older than the new defaults'; END IF; END $$;\n"
)


@pytest.mark.parametrize("header", ["", "-- migrate:no-transaction\n"], ids=["tx", "no-tx"])
def test_the_rehearsal_starts_a_new_session_after_new_session_defaults_as_up(
    header: str, pg_server: EphemeralServer, role: str, database_url: str, tmp_path: Path
) -> None:
    project = Project(tmp_path / "migrations", _as_role(database_url, role), tmp_path)
    project.write(
        {
            "001_t.up.sql": "CREATE TABLE t (id int);\n",
            "002_defaults.up.sql": header + "ALTER ROLE CURRENT_USER SET work_mem = '7MB';\n",
            "003_probe.up.sql": NEW_SESSION_PROBE,
        }
    )

    rehearsal = project.migrate("dry-run", "--no-lint")
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'ALTER ROLE "{role}" RESET ALL')
    up = project.migrate("up")

    assert up.code == 0, up.output
    assert rehearsal.code == 0, rehearsal.output
    assert "003_probe: ok" in rehearsal.stdout
