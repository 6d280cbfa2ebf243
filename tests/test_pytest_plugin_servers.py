"""The pytest plugin against servers that are not the embedded one, and its errors:
what a user's suite sees when the server, the binaries or the migrations let it down."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from migrator.ephemeral import EphemeralServer
from tests.helpers_db import write_migrations

pytest_plugins = ["pytester"]

MIGRATIONS = {
    "001_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY);",
    "001_users.down.sql": "DROP TABLE users;",
}

USER_TESTS = """
import asyncio
import asyncpg


async def _insert(dsn):
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("INSERT INTO users VALUES (1)")
        return await connection.fetchval("SELECT count(*) FROM users")
    finally:
        await connection.close()


def test_first(migrator_database_url):
    assert asyncio.run(_insert(migrator_database_url)) == 1


def test_second(migrator_database_url):
    assert asyncio.run(_insert(migrator_database_url)) == 1
"""


async def _app_role_kept_out_of_postgres(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE ROLE app LOGIN CREATEDB")
        await connection.execute("CREATE DATABASE appdb OWNER app")
        await connection.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
    finally:
        await connection.close()


def test_server_url_naming_its_own_database_works_when_postgres_is_off_limits(
    pytester: pytest.Pytester,
) -> None:
    """Managed servers often keep application roles out of the "postgres" database;
    the per-test copies must be made through the database the URL names."""
    write_migrations(pytester.path / "database" / "migrations", MIGRATIONS)
    pytester.makepyfile(test_app=USER_TESTS)
    with EphemeralServer() as server:
        asyncio.run(_app_role_kept_out_of_postgres(server.dsn()))
        url = f"postgresql://app@{server.host}:{server.port}/appdb"
        result = pytester.runpytest_subprocess(
            "--migrator-server-url", url, "-p", "no:cacheprovider"
        )
    result.assert_outcomes(passed=2)


def test_missing_server_binaries_fail_each_test_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_migrations(pytester.path / "database" / "migrations", MIGRATIONS)
    pytester.makepyfile(test_app=USER_TESTS)
    monkeypatch.setenv("PG_BIN", str(pytester.path / "no-such-bin"))
    monkeypatch.delenv("MIGRATOR_TEST_SERVER_URL", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["migrator: no PostgreSQL server binaries *no-such-bin*"])
    output = result.stdout.str()
    assert "Traceback" not in output and "During handling" not in output
    assert "ephemeral.py" not in output


def test_a_migration_that_does_not_apply_fails_each_test_with_its_file_and_line(
    pytester: pytest.Pytester, pg_server: EphemeralServer
) -> None:
    broken = {
        **MIGRATIONS,
        "002_orders.up.sql": "CREATE TABLE orders (id bigint REFERENCES nosuch);",
    }
    write_migrations(pytester.path / "database" / "migrations", broken)
    pytester.makepyfile(test_app=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "--migrator-server-url", pg_server.dsn(), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["migrator: *002_orders.up.sql:1: *nosuch*"])
    assert "schema_checks.py" not in result.stdout.str()


ROLE = "plugin_session_reader"


async def _role_exists(dsn: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        found = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", ROLE)
        return found is not None
    finally:
        await connection.close()


def test_roles_the_migrations_create_do_not_outlive_the_session(
    pytester: pytest.Pytester,
) -> None:
    """Roles are cluster-wide: left on a server of the user's, the next session's
    stairway would find one its up did not create and its down then drops."""
    with_role = {
        **MIGRATIONS,
        "002_reader.up.sql": f"CREATE ROLE {ROLE};\nGRANT SELECT ON users TO {ROLE};",
        "002_reader.down.sql": f"REVOKE SELECT ON users FROM {ROLE};\nDROP ROLE {ROLE};",
    }
    write_migrations(pytester.path / "database" / "migrations", with_role)
    pytester.makepyfile(
        test_app=USER_TESTS,
        test_zz_stairway="from migrator.pytest_plugin import stairway_test\n"
        "test_migrations_stairway = stairway_test()\n",
    )
    with EphemeralServer() as server:
        for _session in (1, 2):
            result = pytester.runpytest_subprocess(
                "--migrator-server-url", server.dsn(), "-p", "no:cacheprovider"
            )
            result.assert_outcomes(passed=3)
            assert not asyncio.run(_role_exists(server.dsn()))
