"""The bundled APES migrations in database/migrations: they parse cleanly, keep no secret,
and every down restores exactly the schema its up started from (real PostgreSQL)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pglast import parser as pg_parser

from migrator.ephemeral import EphemeralServer
from migrator.source import Migration, MigrationFile, discover, require_runnable
from tests.helpers import run_cli

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


def test_bundled_directory_lints_clean() -> None:
    result = run_cli("--dir", str(BUNDLED), "lint", "--format", "json")

    assert result.code == 0, result.output
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.sql")), ids=lambda path: path.name)
def test_each_bundled_file_lints_clean_on_its_own(path: Path) -> None:
    """What a pre-commit hook does: lint just the changed file (in its directory)."""
    result = run_cli("--dir", str(BUNDLED), "lint", "--format", "json", str(path))

    assert result.code == 0, result.output
    assert json.loads(result.stdout) == []


# -- on a real server, through `migrate up` / `migrate down` ------------------------------

#: the runner's ledger tables (default names); schema comparisons leave them out
LEDGER_TABLES = "public.migrator_ledger*"

Connection = psycopg.Connection[tuple[object, ...]]


def _migrate(database_url: str, *args: str) -> None:
    result = run_cli("--dir", str(BUNDLED), "--database-url", database_url, *args)
    assert result.code == 0, result.output


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn
        _drop_role_if_unused(conn)


def _schema(pg_server: EphemeralServer, database_url: str) -> str:
    """``pg_dump --schema-only`` of everything but the ledger, without its per-run
    ``\\restrict`` keys."""
    assert pg_server.bin_dir is not None
    dump = subprocess.run(
        [
            str(pg_server.bin_dir / "pg_dump"),
            "--schema-only",
            f"--exclude-table={LEDGER_TABLES}",
            "--dbname",
            database_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))


def _drop_role_if_unused(conn: Connection) -> None:
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
def applied(database_url: str, connection: Connection) -> Iterator[Connection]:
    """A database with every bundled migration applied by `migrate up`."""
    _migrate(database_url, "up")
    yield connection
    _migrate(database_url, "down", "--to", "0")


def test_each_down_restores_the_schema_its_up_started_from(
    pg_server: EphemeralServer, database_url: str, connection: Connection
) -> None:
    empty = _schema(pg_server, database_url)
    for migration in _migrations():
        before = _schema(pg_server, database_url)
        _migrate(database_url, "up", "--to", str(migration.version))
        after_up = _schema(pg_server, database_url)
        _migrate(database_url, "down")
        assert _schema(pg_server, database_url) == before, migration.label
        _migrate(database_url, "up", "--to", str(migration.version))  # the down left no trace
        assert _schema(pg_server, database_url) == after_up, migration.label
    _migrate(database_url, "down", "--to", "0")
    assert _schema(pg_server, database_url) == empty


def _send_statements(conn: Connection, migration_file: MigrationFile) -> None:
    for statement in migration_file.statements:
        conn.execute(statement.text)


def test_non_transactional_statements_change_nothing_when_sent_again(
    applied: Connection, pg_server: EphemeralServer, database_url: str
) -> None:
    """What re-running a half-applied non-transactional migration does to the statements
    that had already succeeded: nothing."""
    head = _schema(pg_server, database_url)
    for migration in _migrations():
        if not migration.up.transactional:
            _send_statements(applied, migration.up)
    assert _schema(pg_server, database_url) == head


def _privileges(conn: Connection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT * FROM validate_mcp_user_permissions() ORDER BY 1, 2, 3").fetchall()


def test_mcp_role_is_read_only_on_the_rule_tables(applied: Connection) -> None:
    rows = _privileges(applied)

    assert ("schema", "public", "USAGE", False) in rows
    tables = {(name, privilege) for kind, name, privilege, _ in rows if kind == "table"}
    assert tables == {(table, "SELECT") for table in RULE_TABLES}
    assert not any(violation for *_, violation in rows)
    can_login = applied.execute(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (ROLE,)
    ).fetchone()
    assert can_login == (False,)


def test_validation_function_flags_a_write_privilege(applied: Connection) -> None:
    applied.execute("GRANT INSERT ON user_feedback TO mcp_server_user")
    try:
        violations = [row for row in _privileges(applied) if row[3]]
    finally:
        applied.execute("REVOKE INSERT ON user_feedback FROM mcp_server_user")

    assert violations == [("table", "public.user_feedback", "INSERT", True)]


def test_down_keeps_a_role_it_did_not_create(database_url: str, connection: Connection) -> None:
    """A role made out of band (by ops, with its password) survives 001's down."""
    connection.execute("DROP ROLE IF EXISTS mcp_server_user")
    connection.execute("CREATE ROLE mcp_server_user NOLOGIN")
    try:
        _migrate(database_url, "up", "--to", "1")
        _migrate(database_url, "down")
        exists = connection.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (ROLE,)
        ).fetchone()
        assert exists == (1,)
    finally:
        connection.execute("DROP ROLE IF EXISTS mcp_server_user")
