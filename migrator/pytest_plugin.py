"""pytest plugin shipped with migrator (entry point ``pytest11``): a database migrated to
head for every test, and a one-line stairway test of the project's migrations.

Fixtures:

- ``migrator_database_url``: the DSN of a fresh database with every migration applied,
  cloned for each test from a template database that is migrated once per session
  (``CREATE DATABASE ... TEMPLATE``: milliseconds per test), dropped after the test.
- ``migrator_server_url``: the DSN of the session's server (the embedded throwaway
  PostgreSQL, or the one named by ``--migrator-server-url`` / ``MIGRATOR_TEST_SERVER_URL``).
- ``migrator_settings``: the migrator settings of the project under test.

The stairway test, in any test module::

    from migrator.pytest_plugin import stairway_test

    test_migrations_stairway = stairway_test()

Importing this module is cheap and needs neither asyncpg nor pytest-postgresql: they
are imported inside the fixtures. With pytest-postgresql installed, per-test databases
are made by its ``DatabaseJanitor``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from migrator.config import Settings
    from migrator.rehearse.report import RehearsalReport
    from migrator.source import MigrationSet

SERVER_URL_ENV = "MIGRATOR_TEST_SERVER_URL"
#: How long the janitor retries a refused connection (its default is a minute per test).
_JANITOR_CONNECT_TIMEOUT_S = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migrator", "migrator: migrated test databases")
    group.addoption(
        "--migrator-dir",
        default=None,
        help="migrations directory for the migrator fixtures "
        "(default: the project's migrator settings, database/migrations)",
    )
    group.addoption(
        "--migrator-server-url",
        default=None,
        help="PostgreSQL server for the migrator fixtures instead of the embedded one "
        f"(databases are created and dropped there) [env {SERVER_URL_ENV}]",
    )
    parser.addini("migrator_dir", "migrations directory for the migrator fixtures", default="")


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """A migrator error (no server binaries, a migration that does not apply, a server
    that refuses) fails the test with its one line, not a traceback through the plugin."""
    from migrator.errors import MigratorError

    try:
        yield
    except MigratorError as exc:
        from migrator.dsn import mask_text

        raise pytest.fail.Exception(
            f"migrator: {mask_text(exc.one_line())}", pytrace=False
        ) from None


@pytest.fixture(scope="session")
def migrator_settings(request: pytest.FixtureRequest) -> Settings:
    """The migrator settings of the project under test (``[tool.migrator]`` etc.),
    with ``--migrator-dir`` / the ``migrator_dir`` ini value taking precedence."""
    from migrator.config import load_settings

    directory = request.config.getoption("--migrator-dir") or request.config.getini("migrator_dir")
    flags = {"migrations_dir": str(request.config.rootpath / directory)} if directory else {}
    with _one_line_errors():
        return load_settings(flags, cwd=request.config.rootpath)


@pytest.fixture(scope="session")
def migrator_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session's PostgreSQL server: the embedded one unless a URL is given. Its
    repr (in a failing test's report) masks the password."""
    from migrator.dsn import MaskedDsn
    from migrator.rehearse.server import rehearsal_server

    url = request.config.getoption("--migrator-server-url") or os.environ.get(SERVER_URL_ENV)
    with _one_line_errors(), rehearsal_server(url or None) as server:
        yield MaskedDsn(server.admin_dsn)


def _run(coroutine: Any) -> Any:
    import asyncio

    return asyncio.run(coroutine)


@pytest.fixture(scope="session")
def migrator_template(migrator_server_url: str, migrator_settings: Settings) -> Iterator[str]:
    """The name of a database with every migration applied, the template of each
    test's database; created once per session and dropped at its end, with the roles
    its migrations created (roles are cluster-wide: on a server of your own they would
    outlive the session and change what the next one sees)."""
    from migrator.rehearse.schema_checks import apply_all
    from migrator.rehearse.scratch import create_database, dsn_with_database
    from migrator.runner.flows import load_migrations

    name = f"migrator_template_{secrets.token_hex(4)}"
    with _one_line_errors():
        migration_set = load_migrations(migrator_settings)
        roles_before = _run(_role_names(migrator_server_url))
        _run(create_database(migrator_server_url, name))
    try:
        with _one_line_errors():
            _run(
                apply_all(
                    dsn_with_database(migrator_server_url, name), migration_set, migrator_settings
                )
            )
        yield name
    finally:
        _run(_drop_template(migrator_server_url, name, roles_before, migration_set))


async def _role_names(server_url: str) -> set[str]:
    from migrator.db.connection import connect
    from migrator.rehearse.roles import role_names

    admin = await connect(server_url)
    try:
        return await role_names(admin)
    finally:
        await admin.close()


async def _drop_template(
    server_url: str, name: str, roles_before: set[str], migration_set: MigrationSet
) -> None:
    """Drop the template, then the roles that did not exist before it and that its
    migrations name (where nothing on the server uses them any more)."""
    from migrator.db.connection import connect
    from migrator.rehearse.roles import drop_new_roles, migration_names
    from migrator.rehearse.scratch import drop_database

    await drop_database(server_url, name)
    admin = await connect(server_url)
    try:
        await drop_new_roles(admin, roles_before, migration_names(migration_set.migrations))
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def _migrator_template_settings(
    migrator_server_url: str, migrator_template: str
) -> list[tuple[str | None, str]]:
    """What the migrations set with ``ALTER DATABASE ... SET`` (or ``ALTER ROLE ... IN
    DATABASE``) on the template: ``CREATE DATABASE ... TEMPLATE`` does not copy it, so
    each test's copy gets it again (read once per session)."""
    from migrator.rehearse.scratch import database_settings

    return list(_run(database_settings(migrator_server_url, migrator_template)))


@pytest.fixture
def migrator_database_url(
    migrator_server_url: str,
    migrator_template: str,
    _migrator_template_settings: list[tuple[str | None, str]],
) -> Iterator[str]:
    """The DSN of a fresh database migrated to head, for this test only (its repr masks
    the password)."""
    from migrator.dsn import MaskedDsn
    from migrator.rehearse.scratch import apply_database_settings, dsn_with_database

    name = f"migrator_test_{secrets.token_hex(6)}"
    settings = _migrator_template_settings
    janitor = _janitor(migrator_server_url, name, migrator_template)
    if janitor is not None:
        janitor.init()
        try:
            _run(apply_database_settings(migrator_server_url, name, settings))
            yield MaskedDsn(dsn_with_database(migrator_server_url, name))
        finally:
            janitor.drop()
        return
    from migrator.rehearse.scratch import create_database, drop_database

    with _one_line_errors():
        _run(create_database(migrator_server_url, name, template=migrator_template))
    try:
        _run(apply_database_settings(migrator_server_url, name, settings))
        yield MaskedDsn(dsn_with_database(migrator_server_url, name))
    finally:
        _run(drop_database(migrator_server_url, name))


def _janitor(server_url: str, name: str, template: str) -> Any:
    """pytest-postgresql's DatabaseJanitor for ``name`` cloned from ``template``, or
    ``None`` when pytest-postgresql is not installed or cannot say what the URL says.

    The janitor connects with user, password, host, port and a maintenance database
    only: a URL with parameters (``sslmode=verify-full``, a socket directory, options)
    or in ``key=value`` form is left to migrator's own connection code, which honours
    all of it."""
    try:
        from pytest_postgresql.janitor import DatabaseJanitor
    except ImportError:
        return None
    from migrator.db.target import parse_target

    if "://" not in server_url or urlsplit(server_url).query:
        return None
    target = parse_target(server_url)
    options: dict[str, Any] = {"connection_timeout": _JANITOR_CONNECT_TIMEOUT_S}
    # the database the URL names: its role may not be allowed into "postgres"
    if "maintenance_dbname" in inspect.signature(DatabaseJanitor).parameters:
        options["maintenance_dbname"] = target.database
    elif target.database != "postgres":
        return None
    return DatabaseJanitor(
        user=target.user,
        host=target.host,
        port=target.port or 5432,
        password=target.password,
        dbname=name,
        template_dbname=template,
        **options,
    )


def stairway_test(*, seed_rows: int = 0) -> Callable[..., None]:
    """A test function that rehearses every migration (up, down, up; the schema after
    down must equal the one before up) on the session's server. Assign it to a name
    starting with ``test_`` in a test module."""

    def test_migrations_stairway(migrator_server_url: str, migrator_settings: Settings) -> None:
        from migrator.dsn import mask_text
        from migrator.rehearse.engine import RehearsalOptions, rehearse

        _require_migrations_dir(migrator_settings)
        with _one_line_errors():
            report = rehearse(
                migrator_settings,
                RehearsalOptions(server_url=migrator_server_url, seed_rows=seed_rows, lint=False),
            )
        if not report.ok:  # one line, then the report as the CLI prints it, DSNs masked
            raise pytest.fail.Exception(mask_text(_stairway_failure(report)), pytrace=False)

    test_migrations_stairway._migrator_stairway = True  # type: ignore[attr-defined]
    return test_migrations_stairway


def _require_migrations_dir(settings: Settings) -> None:
    """One line naming the plugin's own options when the directory is missing (the
    CLI's message would say ``--dir``, which pytest does not take)."""
    directory = settings.migrations_dir
    if not directory.is_dir():
        raise pytest.fail.Exception(
            f"migrator: migrations directory {directory} does not exist (pass "
            "--migrator-dir, set migrator_dir in pytest's ini file, or migrations-dir in "
            "[tool.migrator])",
            pytrace=False,
        )


def _stairway_failure(report: RehearsalReport) -> str:
    """What failed in one line, then the report as ``migrate dry-run`` prints it (the
    linter was not run here, so there is no lint line)."""
    from dataclasses import replace

    from migrator.rehearse.render import render_text
    from migrator.rehearse.report import LintSummary

    failed = ", ".join(migration.label for migration in report.failures)
    rendered = render_text(replace(report, lint=LintSummary(ran=False)))
    return f"migrator stairway: {len(report.failures)} migration(s) failed: {failed}\n{rendered}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stairway tests first: roles are cluster-wide, and a migration's ``CREATE ROLE``
    would fail in the stairway once the session's template database holds the role."""
    items.sort(
        key=lambda item: not getattr(getattr(item, "function", None), "_migrator_stairway", False)
    )
