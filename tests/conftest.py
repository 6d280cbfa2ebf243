"""Fixtures shared by the whole suite: one throwaway PostgreSQL server per test
session (migrator.ephemeral; under pytest-xdist, one per worker), a fresh empty database
per test (cloned from an empty template over one admin connection of the session), and
an empty migrations directory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor

from migrator.ephemeral import EphemeralServer

#: An empty database every test database is cloned from (CREATE DATABASE ... TEMPLATE).
TEMPLATE_DATABASE = "migrator_test_template"
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _own_lint_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty lint cache of its own (``migrate lint`` caches in
    .migrator_cache/ by default): no test sees another's findings."""
    monkeypatch.setenv("MIGRATOR_CACHE_DIR", str(tmp_path / "migrator-cache"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EphemeralServer]:
    """The session's PostgreSQL server (superuser ``postgres``, trust auth on 127.0.0.1)."""
    with EphemeralServer() as server:
        template = DatabaseJanitor(
            user=server.user,
            host=server.host,
            port=server.port,
            dbname=TEMPLATE_DATABASE,
            template_dbname="template0",
            as_template=True,
        )
        template.init()
        yield server
        admin = _admin_connections.pop(server.dsn("postgres"), None)
        if admin is not None:
            admin.close()


#: server DSN -> an autocommit connection to its ``postgres`` database, kept open: a
#: test's database is created and dropped over it, not over two new connections
_admin_connections: dict[str, psycopg.Connection] = {}


def _admin_execute(server: EphemeralServer, statement: sql.Composed) -> None:
    """Run ``statement`` over the server's admin connection (made again once when the
    server closed it: a test may restart the server or crash a backend)."""
    dsn = server.dsn("postgres")
    for attempt in (1, 2):
        connection = _admin_connections.get(dsn)
        if connection is None or connection.closed:
            connection = _admin_connections[dsn] = psycopg.connect(dsn, autocommit=True)
        try:
            connection.execute(statement)
            return
        except psycopg.OperationalError:
            connection.close()
            if attempt == 2:
                raise


def fresh_database(server: EphemeralServer, prefix: str = "test") -> Iterator[str]:
    """Create an empty database cloned from the template; yield its DSN; drop it (and
    end the sessions a test left on it)."""
    dbname = f"{prefix}_{os.getpid()}_{next(_counter)}"
    name = sql.Identifier(dbname)
    _admin_execute(
        server,
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(name, sql.Identifier(TEMPLATE_DATABASE)),
    )
    try:
        yield server.dsn(dbname)
    finally:
        _admin_execute(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@pytest.fixture
def database_url(pg_server: EphemeralServer) -> Iterator[str]:
    """The DSN of a fresh, empty database for this test; dropped afterwards."""
    yield from fresh_database(pg_server)


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """An empty directory for the test's migration files."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    return directory
