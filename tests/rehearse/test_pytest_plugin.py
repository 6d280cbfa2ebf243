"""The pytest plugin users put in their own suites: migrated databases per test, and
the one-line stairway test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrator.ephemeral import EphemeralServer
from tests.helpers_db import write_migrations

pytest_plugins = ["pytester"]

MIGRATIONS = {
    "001_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);",
    "001_users.down.sql": "DROP TABLE users;",
    "002_orders.up.sql": (
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);"
    ),
    "002_orders.down.sql": "DROP TABLE orders;",
}

USER_TESTS = """
import asyncio
import asyncpg
from migrator.pytest_plugin import stairway_test

test_migrations_stairway = stairway_test()


async def _tables(dsn):
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("INSERT INTO users VALUES (1, 'a@example.com')")
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return [row["tablename"] for row in rows]
    finally:
        await connection.close()


def test_first(migrator_database_url):
    assert asyncio.run(_tables(migrator_database_url)) == [
        "migrator_ledger", "migrator_ledger_history", "orders", "users"]


def test_second_gets_its_own_copy(migrator_database_url):
    # test_first inserted a user in its copy; this one starts clean again
    assert "users" in asyncio.run(_tables(migrator_database_url))
"""


def test_plugin_gives_each_test_a_migrated_database(
    pytester: pytest.Pytester, pg_server: EphemeralServer
) -> None:
    write_migrations(pytester.path / "database" / "migrations", MIGRATIONS)
    pytester.makepyfile(test_app=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "--migrator-server-url", pg_server.dsn(), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)


def test_stairway_test_fails_on_a_down_that_forgets(
    pytester: pytest.Pytester, pg_server: EphemeralServer
) -> None:
    broken = {**MIGRATIONS, "002_orders.down.sql": "SELECT 1;"}
    write_migrations(pytester.path / "migrations", broken)
    pytester.makeini("[pytest]\nmigrator_dir = migrations\n")
    pytester.makepyfile(
        test_stairway="from migrator.pytest_plugin import stairway_test\n"
        "test_migrations_stairway = stairway_test()\n"
    )
    result = pytester.runpytest_subprocess(
        "--migrator-server-url", pg_server.dsn(), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*migrator stairway: 1 migration(s) failed: 002_orders",
            "002_orders: FAILED round trip: down does not restore the schema*",
            "  schema after down differs: table orders added*",
        ]
    )
    output = result.stdout.str()
    assert "--no-lint" not in output and "lint:" not in output
    assert "RehearsalReport(" not in output and "MigrationRehearsal(" not in output
    assert "Traceback" not in output and "def test_migrations_stairway" not in output


def test_stairway_test_with_no_migrations_directory_says_so_in_one_line(
    pytester: pytest.Pytester, pg_server: EphemeralServer
) -> None:
    pytester.makeini("[pytest]\nmigrator_dir = nowhere\n")
    pytester.makepyfile(
        test_stairway="from migrator.pytest_plugin import stairway_test\n"
        "test_migrations_stairway = stairway_test()\n"
    )
    result = pytester.runpytest_subprocess(
        "--migrator-server-url", pg_server.dsn(), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*migrator: migrations directory */nowhere does not exist (pass --migrator-dir,*"]
    )
    output = result.stdout.str()
    assert "Traceback" not in output and "--dir," not in output
    assert "migrator/pytest_plugin.py" not in output and "SourceError" not in output


def test_importing_the_plugin_is_cheap_and_needs_no_database_libraries() -> None:
    code = (
        "import sys; import migrator.pytest_plugin; "
        "heavy = [m for m in ('asyncpg', 'pytest_postgresql', 'psycopg', 'pglast')"
        " if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "[]"


#: a migration that sets its database's defaults (as many set search_path or timezone),
#: then one that relies on them; a test then reads them in its copy of the template
SETTING_MIGRATIONS = {
    "001_schema.up.sql": "CREATE SCHEMA app;",
    "002_defaults.up.sql": (
        "DO $$ BEGIN\n"
        "EXECUTE format('ALTER DATABASE %I SET search_path = app, \"$user\", public', "
        "current_database());\n"
        "EXECUTE format('ALTER DATABASE %I SET timezone = ''Asia/Tokyo''', current_database());\n"
        "EXECUTE format('ALTER DATABASE %I SET DateStyle = ''SQL, DMY''', current_database());\n"
        "END $$;\n"
    ),
    "003_in_app.up.sql": "CREATE TABLE lands_in_app (id int);",
}

SETTING_TESTS = """
import asyncio
import asyncpg


async def _seen(dsn):
    connection = await asyncpg.connect(dsn)
    try:
        return [
            await connection.fetchval("SHOW search_path"),
            await connection.fetchval("SHOW timezone"),
            await connection.fetchval("SHOW DateStyle"),
            await connection.fetchval(
                "SELECT schemaname FROM pg_tables WHERE tablename = 'lands_in_app'"),
        ]
    finally:
        await connection.close()


def test_the_copy_has_the_databases_defaults(migrator_database_url):
    assert asyncio.run(_seen(migrator_database_url)) == [
        'app, "$user", public', "Asia/Tokyo", "SQL, DMY", "app"]
"""


def test_a_tests_database_keeps_the_settings_the_migrations_gave_the_database(
    pytester: pytest.Pytester, pg_server: EphemeralServer
) -> None:
    """CREATE DATABASE ... TEMPLATE copies no ALTER DATABASE ... SET: without copying
    them, tests ran with other defaults than production (and 003 landed in public)."""
    write_migrations(pytester.path / "database" / "migrations", SETTING_MIGRATIONS)
    pytester.makepyfile(test_app=SETTING_TESTS)
    result = pytester.runpytest_subprocess(
        "--migrator-server-url", pg_server.dsn(), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
