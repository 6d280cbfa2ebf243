"""A transactional migration travels in as few strings as it has statements: ``BEGIN``
and the settings with the first, the ledger write and ``COMMIT`` with the last. These
tests count what is sent on a real connection and check that gluing changes nothing a
user can see: failures still name the right place and leave everything as it was, odd
names reach the ledger intact whatever ``standard_conforming_strings`` says, and a
migration that drops the session's prepared statements still applies."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from migrator.config import Settings
from migrator.db.ledger import Ledger
from migrator.runner.execute import execute_step
from migrator.runner.retry import RetryPolicy
from migrator.runner.schedule import plan_step
from migrator.source.discovery import discover
from tests.helpers_db import write_migrations
from tests.runner.conftest import Project

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """A real connection that remembers every string sent with ``execute``."""

    sent: list[str]

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        self.sent.append(query)
        result: str = await super().execute(query, *args, timeout=timeout)
        return result


def test_each_statement_is_one_round_trip_with_the_ledger_write_on_the_last(
    database_url: str, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_one.up.sql": "CREATE TABLE one (id int);\n",
            "001_one.down.sql": "DROP TABLE one;\n",
            "002_three.up.sql": (
                "CREATE TABLE three (id int);\n"
                "INSERT INTO three VALUES (1); -- a comment after the last statement\n"
                "INSERT INTO three VALUES (2) -- a comment where the semicolon would be\n"
            ),
            "002_three.down.sql": "DROP TABLE three;\n",
        },
    )
    settings = Settings(migrations_dir=directory)
    one, three = discover(directory).migrations
    ledger = Ledger()

    async def apply() -> tuple[list[str], list[tuple[int, str, int]]]:
        conn = await asyncpg.connect(database_url, connection_class=CountingConnection)
        conn.sent = []
        try:
            await ledger.ensure(conn)
            await ledger.prepare_writes(conn)
            conn.sent.clear()
            for migration in (one, three):
                await execute_step(
                    conn,
                    plan_step(migration, "up", settings),
                    ledger=ledger,
                    retry=RetryPolicy(),
                )
            await execute_step(
                conn, plan_step(three, "down", settings), ledger=ledger, retry=RetryPolicy()
            )
            rows = await conn.fetch(
                "SELECT version, state, duration_ms FROM migrator_ledger ORDER BY version"
            )
            return conn.sent, [(int(r[0]), r[1], r[2]) for r in rows]
        finally:
            await conn.close()

    sent, rows = _run(apply())

    # one string for the one-statement migration, three for the three-statement one,
    # one for the one-statement revert
    assert len(sent) == 5
    assert sent[0].startswith("BEGIN;") and sent[0].rstrip().endswith("COMMIT")
    assert "CREATE TABLE one" in sent[0] and "EXECUTE migrator_applied_" in sent[0]
    assert sent[1].startswith("BEGIN;") and "COMMIT" not in sent[1]
    assert not sent[2].startswith("BEGIN") and "COMMIT" not in sent[2]
    assert sent[3].rstrip().endswith("COMMIT") and "INSERT INTO three VALUES (2)" in sent[3]
    assert "EXECUTE migrator_reverted_" in sent[4]
    assert rows == [(1, "applied", rows[0][2])]
    assert isinstance(rows[0][2], int) and rows[0][2] >= 0


def test_a_failing_ledger_write_is_reported_as_such_and_changes_nothing(
    project: Project,
) -> None:
    project.write(
        {
            "001_a.up.sql": "CREATE TABLE a (id int);\n",
            "001_a.down.sql": "DROP TABLE a;\n",
            "002_b.up.sql": "CREATE TABLE b (id int);\n",
            "002_b.down.sql": "DROP TABLE b;\n",
        }
    )
    assert project.migrate("up", "--to", "1").code == 0
    project.query("ALTER TABLE migrator_ledger ADD CONSTRAINT not_two CHECK (version <> 2)")

    result = project.migrate("up")

    assert result.code == 4
    line = result.stderr.strip().splitlines()[-1]
    assert "002_b.up.sql (writing the ledger): applying 002_b failed" in line
    assert "not_two" in line
    assert "b" not in project.tables()
    assert project.history() == [(1, "up"), (2, "failure")]


def test_a_failing_last_statement_names_its_line(project: Project) -> None:
    project.write(
        {
            "001_a.up.sql": "CREATE TABLE a (id int);\n\nINSERT INTO a VALUES ('x');\n",
            "001_a.down.sql": "DROP TABLE a;\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 4
    assert "001_a.up.sql:3: applying 001_a failed" in result.stderr
    assert "invalid input syntax for type integer" in result.stderr
    assert project.tables() == {"migrator_ledger", "migrator_ledger_history"}
    assert project.history() == [(1, "failure")]


def test_odd_names_are_written_intact_without_standard_conforming_strings(
    project: Project,
) -> None:
    name = "it's_a_'quoted'_name_with_$1_and_E'x'"
    who = "o'brien\\'); DROP TABLE a; --"  # the OS user is part of the ledger's by-whom
    project.write(
        {
            "001_a.up.sql": "CREATE TABLE a (id int);\n",
            "001_a.down.sql": "DROP TABLE a;\n",
            f"002_{name}.up.sql": "SELECT 1;\n",
            f"002_{name}.down.sql": "SELECT 1;\n",
        }
    )
    database = project.scalar("SELECT current_database()")
    project.query(f'ALTER DATABASE "{database}" SET standard_conforming_strings = off')
    project.query(f'ALTER DATABASE "{database}" SET escape_string_warning = off')
    as_odd_user = {"LOGNAME": who, "USER": who}

    assert project.migrate("up", env=as_odd_user).code == 0
    assert project.scalar("SELECT name FROM migrator_ledger WHERE version = 2") == name
    assert project.scalar("SELECT applied_by FROM migrator_ledger WHERE version = 2").endswith(
        f" via {who}@" + project.scalar("SELECT applied_by FROM migrator_ledger").split("@")[-1]
    )
    assert project.migrate("down", env=as_odd_user).code == 0
    assert "a" in project.tables()
    assert project.history() == [(1, "up"), (2, "up"), (2, "down")]
    assert project.scalar("SELECT name FROM migrator_ledger_history WHERE action = 'down'") == name


def test_a_migration_that_drops_prepared_statements_still_applies(project: Project) -> None:
    project.write(
        {
            "001_a.up.sql": "CREATE TABLE a (id int);\n",
            "001_a.down.sql": "DROP TABLE a;\n",
            "002_forget.up.sql": "CREATE TABLE b (id int);\nDEALLOCATE ALL;\n",
            "002_forget.down.sql": "DROP TABLE b;\n",
            "003_c.up.sql": "CREATE TABLE c (id int);\n",
            "003_c.down.sql": "DROP TABLE c;\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 0, result.output
    assert {"a", "b", "c"} <= project.tables()
    assert project.history() == [(1, "up"), (2, "up"), (3, "up")]
    assert project.migrate("down", "--to", "0").code == 0
    assert project.tables() == {"migrator_ledger", "migrator_ledger_history"}
