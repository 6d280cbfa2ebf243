"""Fixtures of the planner tests: a second fresh database (the naive run is compared
with the planned run) on the session's PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from migrator.ephemeral import EphemeralServer
from tests.conftest import TEMPLATE_DATABASE

_counter = itertools.count(1)


@pytest.fixture
def other_database_url(pg_server: EphemeralServer) -> Iterator[str]:
    """Another fresh, empty database for this test."""
    dbname = f"plan_{os.getpid()}_{next(_counter)}"
    janitor = DatabaseJanitor(
        user=pg_server.user,
        host=pg_server.host,
        port=pg_server.port,
        dbname=dbname,
        template_dbname=TEMPLATE_DATABASE,
    )
    janitor.init()
    try:
        yield pg_server.dsn(dbname)
    finally:
        janitor.drop()
