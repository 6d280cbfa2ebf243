"""The bundled APES migrations in database/migrations: they parse cleanly, keep no secret,
and every down restores exactly the schema its up started from (real PostgreSQL)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pglast import parser as pg_parser

from migrator.ephemeral import EphemeralServer
from migrator.source import Migration, MigrationFile, discover, require_runnable

BUNDLED = Path(__file__).resolve().parent.parent / "database" / "migrations"
ROLE = "mcp_server_user"
RULE_TABLES = {"public.rule_performance", "public.rule_combinations"}
APES_TABLES = {
    "rule_performance",
    "rule_combinations",
    "user_feedback",
    "improvement_sessions",
    "discovered_patterns",
}


def _migrations() -> tuple[Migration, ...]:
    return discover(BUNDLED).migrations


# -- the files, no database -------------------------------------------------------------


def test_bundled_directory_has_no_problems() -> None:
    migration_set = discover(BUNDLED)

    assert migration_set.problems == ()
    assert migration_set.file_problems() == []
    require_runnable(migration_set)  # raises on anything the runner would refuse
    assert [m.version for m in migration_set.migrations] == [1, 2, 3, 4]


def test_every_bundled_migration_is_reversible() -> None:
    assert all(migration.reversible for migration in _migrations())


def test_at_least_one_bundled_migration_runs_outside_a_transaction() -> None:
    assert any(not migration.up.transactional for migration in _migrations())


def test_non_transactional_bundled_statements_are_idempotent() -> None:
    """A half-applied non-transactional run must be re-runnable: IF [NOT] EXISTS."""
    for migration in _migrations():
        for migration_file in migration.files():
            if migration_file.transactional:
                continue
            for statement in migration_file.statements:
                assert re.search(r"\bIF (NOT )?EXISTS\b", statement.text, re.IGNORECASE), (
                    migration_file.location(statement)
                )


def _keywords(migration_file: MigrationFile) -> list[str]:
    """The SQL tokens of a file, comments excluded."""
    return [
        token.name for token in pg_parser.scan(migration_file.text) if token.name != "SQL_COMMENT"
    ]


def test_no_bundled_file_sets_a_password() -> None:
    for migration in _migrations():
        for migration_file in migration.files():
            assert "PASSWORD" not in _keywords(migration_file), migration_file.path


def test_bundled_migrations_create_the_apes_tables() -> None:
    text = "\n".join(m.up.text for m in _migrations())
    created = set(re.findall(r"CREATE TABLE (\w+)", text))
    assert created == APES_TABLES


# -- on a real server ---------------------------------------------------------------------


@pytest.fixture
def connection(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration_file: MigrationFile) -> None:
    """Run a file as the runner does: one transaction, or statement by statement."""
    if migration_file.transactional:
        with conn.transaction():
            for statement in migration_file.statements:
                conn.execute(statement.text)
    else:
        for statement in migration_file.statements:
            conn.execute(statement.text)


def _schema(pg_server: EphemeralServer, database_url: str) -> str:
    """``pg_dump --schema-only`` without its per-run ``\\restrict`` keys."""
    assert pg_server.bin_dir is not None
    dump = subprocess.run(
        [str(pg_server.bin_dir / "pg_dump"), "--schema-only", "--dbname", database_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))


def _drop_role_if_unused(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """The role is cluster-wide; leave the session server as the test found it."""
    conn.execute(
        """
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mcp_server_user')
             AND NOT EXISTS (SELECT 1 FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
                             WHERE d.refclassid = 'pg_authid'::regclass
                               AND r.rolname = 'mcp_server_user') THEN
            DROP ROLE mcp_server_user;
          END IF;
        END $$
        """
    )


@pytest.fixture
def applied(
    connection: psycopg.Connection[tuple[object, ...]],
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A database with every bundled migration applied."""
    for migration in _migrations():
        _apply(connection, migration.up)
    yield connection
    for migration in reversed(_migrations()):
        assert migration.down is not None
        _apply(connection, migration.down)
    _drop_role_if_unused(connection)


def test_each_down_restores_the_schema_its_up_started_from(
    pg_server: EphemeralServer,
    database_url: str,
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    empty = _schema(pg_server, database_url)
    try:
        for migration in _migrations():
            before = _schema(pg_server, database_url)
            _apply(connection, migration.up)
            after_up = _schema(pg_server, database_url)
            assert migration.down is not None
            _apply(connection, migration.down)
            assert _schema(pg_server, database_url) == before, migration.label
            _apply(connection, migration.up)  # up again: the down left nothing behind
            assert _schema(pg_server, database_url) == after_up, migration.label
        for migration in reversed(_migrations()):
            assert migration.down is not None
            _apply(connection, migration.down)
        assert _schema(pg_server, database_url) == empty
    finally:
        _drop_role_if_unused(connection)


def test_non_transactional_migration_can_be_run_twice(
    applied: psycopg.Connection[tuple[object, ...]],
    pg_server: EphemeralServer,
    database_url: str,
) -> None:
    """What a re-run after a half-applied run does to the finished statements: nothing."""
    head = _schema(pg_server, database_url)
    for migration in _migrations():
        if not migration.up.transactional:
            _apply(applied, migration.up)
    assert _schema(pg_server, database_url) == head


def _privileges(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return conn.execute("SELECT * FROM validate_mcp_user_permissions() ORDER BY 1, 2, 3").fetchall()


def test_mcp_role_is_read_only_on_the_rule_tables(
    applied: psycopg.Connection[tuple[object, ...]],
) -> None:
    rows = _privileges(applied)

    assert ("schema", "public", "USAGE", False) in rows
    tables = {(name, privilege) for kind, name, privilege, _ in rows if kind == "table"}
    assert tables == {(table, "SELECT") for table in RULE_TABLES}
    assert not any(violation for *_, violation in rows)
    can_login = applied.execute(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (ROLE,)
    ).fetchone()
    assert can_login == (False,)


def test_validation_function_flags_a_write_privilege(
    applied: psycopg.Connection[tuple[object, ...]],
) -> None:
    applied.execute("GRANT INSERT ON user_feedback TO mcp_server_user")
    try:
        violations = [row for row in _privileges(applied) if row[3]]
    finally:
        applied.execute("REVOKE INSERT ON user_feedback FROM mcp_server_user")

    assert violations == [("table", "public.user_feedback", "INSERT", True)]


def test_down_keeps_a_role_it_did_not_create(
    connection: psycopg.Connection[tuple[object, ...]],
) -> None:
    """A role made out of band (by ops, with its password) survives 001's down."""
    first = _migrations()[0]
    assert first.down is not None
    connection.execute("DROP ROLE IF EXISTS mcp_server_user")
    connection.execute("CREATE ROLE mcp_server_user NOLOGIN")
    try:
        _apply(connection, first.up)
        _apply(connection, first.down)
        exists = connection.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (ROLE,)
        ).fetchone()
        assert exists == (1,)
    finally:
        connection.execute("DROP ROLE IF EXISTS mcp_server_user")
