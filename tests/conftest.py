"""Fixtures shared by the whole suite: one throwaway PostgreSQL server per test
session (migrator.ephemeral), a fresh empty database per test (pytest-postgresql's
DatabaseJanitor, cloned from an empty template), and an empty migrations directory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
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


def fresh_database(server: EphemeralServer, prefix: str = "test") -> Iterator[str]:
    """Create an empty database cloned from the template; yield its DSN; drop it."""
    dbname = f"{prefix}_{os.getpid()}_{next(_counter)}"
    janitor = DatabaseJanitor(
        user=server.user,
        host=server.host,
        port=server.port,
        dbname=dbname,
        template_dbname=TEMPLATE_DATABASE,
    )
    janitor.init()
    try:
        yield server.dsn(dbname)
    finally:
        janitor.drop()


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
