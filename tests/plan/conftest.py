"""Fixtures of the planner tests: a second fresh database (the naive run is compared
with the planned run) on the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from migrator.ephemeral import EphemeralServer
from tests.conftest import fresh_database


@pytest.fixture
def other_database_url(pg_server: EphemeralServer) -> Iterator[str]:
    """Another fresh, empty database for this test."""
    yield from fresh_database(pg_server, prefix="plan")
