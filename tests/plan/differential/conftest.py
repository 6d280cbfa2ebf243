"""Two databases per test module (the naive copy and the planned one), emptied before
each case: emptying a schema is much faster than creating a database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from migrator.ephemeral import EphemeralServer
from tests.conftest import fresh_database


@pytest.fixture(scope="module")
def database_pair(pg_server: EphemeralServer) -> Iterator[tuple[str, str]]:
    """(naive DSN, planned DSN); :func:`harness.run_case` empties both first."""
    naive = fresh_database(pg_server, prefix="naive")
    planned = fresh_database(pg_server, prefix="planned")
    yield next(naive), next(planned)
    for generator in (naive, planned):
        next(generator, None)
