"""The ledger tables and the executor's public API on a real PostgreSQL: creation
under concurrency, configurable (quoted) names, one migration applied on a given
connection with the per-statement hook, and progress reported through a Reporter."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from migrator.config import Settings
from migrator.db.connection import connect
from migrator.db.ledger import Ledger
from migrator.errors import SourceError
from migrator.runner import flows
from migrator.runner.execute import apply_migration
from migrator.runner.report import Reporter
from migrator.source import MigrationFile, discover
from migrator.sql.split import Statement
from tests.helpers_db import write_migrations
from tests.runner.conftest import USERS, Project


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_concurrent_creation_of_the_ledger_is_safe(database_url: str) -> None:
    async def create_many() -> None:
        connections = [await connect(database_url) for _ in range(6)]
        try:
            ledger = Ledger()
            await asyncio.gather(*(ledger.ensure(conn) for conn in connections))
            assert await ledger.exists(connections[0])
            assert await ledger.entries(connections[0]) == {}
        finally:
            for conn in connections:
                await conn.close()

    _run(create_many())


def test_ledger_name_is_configurable_and_quoted(project: Project) -> None:
    project.write(USERS)
    env = {"MIGRATOR_LEDGER_SCHEMA": "Deploy", "MIGRATOR_LEDGER_TABLE": "select"}

    result = project.migrate("up", env=env)

    assert result.code == 0, result.output
    assert project.scalar('SELECT count(*) FROM "Deploy"."select"') == 2
    assert project.scalar('SELECT count(*) FROM "Deploy"."select_history"') == 2
    assert project.scalar("SELECT to_regclass('public.migrator_ledger')") is None
    status = project.migrate("status", env=env)
    assert "(ledger Deploy.select)" in status.stdout
    # the default ledger sees nothing applied, and a different ledger has its own lock
    assert "0 applied, 2 pending" in project.migrate("status").stdout
    assert Ledger("Deploy", "select").lock_key != Ledger().lock_key


def test_a_ledger_name_that_is_not_an_identifier_is_refused(project: Project) -> None:
    result = project.migrate("status", env={"MIGRATOR_LEDGER_TABLE": 'x"; DROP TABLE y; --'})

    assert result.code == 2
    assert "invalid MIGRATOR_LEDGER_TABLE" in result.stderr


def test_a_foreign_table_with_the_ledger_name_is_reported(project: Project) -> None:
    project.write(USERS)
    project.query("CREATE TABLE migrator_ledger (version bigint PRIMARY KEY)")

    result = project.migrate("status")

    assert result.code == 2
    assert "table public.migrator_ledger exists but is not a migrator ledger" in result.stderr


def test_apply_migration_runs_one_migration_with_the_hook(
    database_url: str, tmp_path: Path
) -> None:
    migration_set = discover(
        write_migrations(
            tmp_path / "m",
            {
                "001_t.up.sql": "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n",
                "001_t.down.sql": "DROP TABLE t;\n",
                "002_i.up.sql": "-- migrate:no-transaction\n"
                "CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
                "002_i.down.sql": "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY t_id;\n",
            },
        )
    )
    settings = Settings(migrations_dir=tmp_path / "m")
    seen: list[tuple[str, int, bool, int]] = []

    async def after(conn: asyncpg.Connection, file: MigrationFile, statement: Statement) -> None:
        locks = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'"
        )
        seen.append((file.path.name, statement.line, conn.is_in_transaction(), locks))

    async def stairway() -> list[str]:
        conn = await connect(database_url)
        try:
            one, two = migration_set.migrations
            await apply_migration(conn, one, settings=settings, after_statement=after)
            await apply_migration(conn, two, settings=settings, after_statement=after)
            await apply_migration(conn, two, "down", settings=settings)
            await apply_migration(conn, two, settings=settings)
            history = await Ledger().history(conn)
            return [f"{h.version}:{h.action}" for h in history]
        finally:
            await conn.close()

    history = _run(stairway())

    assert history == ["1:up", "2:up", "2:down", "2:up"]
    # inside the transaction for the transactional file (its locks visible), outside it
    # for the no-transaction one
    assert [(name, line, in_tx) for name, line, in_tx, _ in seen] == [
        ("001_t.up.sql", 1, True),
        ("001_t.up.sql", 2, True),
        ("002_i.up.sql", 2, False),
    ]
    assert seen[0][3] > 0


def test_hook_failure_rolls_the_migration_back(database_url: str, tmp_path: Path) -> None:
    migration_set = discover(
        write_migrations(tmp_path / "m", {"001_t.up.sql": "CREATE TABLE t (id int);\n"})
    )
    settings = Settings(migrations_dir=tmp_path / "m")

    async def boom(conn: asyncpg.Connection, file: MigrationFile, statement: Statement) -> None:
        raise RuntimeError("hook failed")

    async def attempt() -> tuple[bool, dict[int, Any]]:
        conn = await connect(database_url)
        try:
            with pytest.raises(RuntimeError):
                await apply_migration(
                    conn, migration_set.migrations[0], settings=settings, after_statement=boom
                )
            table = await conn.fetchval("SELECT to_regclass('t') IS NOT NULL")
            return table, await Ledger().entries(conn)
        finally:
            await conn.close()

    assert _run(attempt()) == (False, {})


class Recorder(Reporter):
    def __init__(self) -> None:
        self.events: list[str] = []

    def step_finished(self, result: Any) -> None:
        self.events.append(f"{result.step.direction} {result.step.label}")

    def note(self, text: str) -> None:
        self.events.append(f"note {text}")


def test_flows_report_through_a_reporter(project: Project) -> None:
    project.write(USERS)
    settings = Settings(migrations_dir=project.directory, database_url=project.database_url)
    recorder = Recorder()

    result = _run(flows.up(settings, reporter=recorder))
    reverted = _run(flows.down(settings, flows.DownOptions(to=0), reporter=recorder))

    assert [r.step.version for r in result.results] == [1, 2]
    assert result.current_version == 2 and reverted.current_version is None
    assert recorder.events == [
        "up 001_create_users",
        "up 002_create_orders",
        "down 002_create_orders",
        "down 001_create_users",
    ]


def test_apply_migration_refuses_a_file_that_cannot_run(database_url: str, tmp_path: Path) -> None:
    migration_set = discover(
        write_migrations(tmp_path / "m", {"001_t.up.sql": "SELECT 1;\nVACUUM;\n"})
    )
    settings = Settings(migrations_dir=tmp_path / "m")

    async def attempt() -> None:
        conn = await connect(database_url)
        try:
            await apply_migration(conn, migration_set.migrations[0], settings=settings)
        finally:
            await conn.close()

    with pytest.raises(SourceError, match="cannot run in a transaction"):
        _run(attempt())


def test_odd_names_reach_the_ledger_intact(project: Project) -> None:
    name = "it's_a_'quoted'_name_with_$1"
    project.write({f"001_{name}.up.sql": "SELECT 1;\n", f"001_{name}.down.sql": "SELECT 1;\n"})

    assert project.migrate("up").code == 0
    assert project.scalar("SELECT name FROM migrator_ledger") == name
    assert project.migrate("down").code == 0
    assert project.history() == [(1, "up"), (1, "down")]
