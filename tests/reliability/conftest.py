"""Reliability tests: fault injection, hostile input, concurrency.

The longer variants carry ``@pytest.mark.slow``. Plain ``pytest`` (the CI command)
leaves them out (``-m "not slow"`` in pyproject's addopts); ``pytest -m slow
tests/reliability`` (or ``python bench/reliability_long.py``) runs them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from migrator.ephemeral import EphemeralServer
from tests.reliability.database_state import scratch_databases
from tests.reliability.kill_corpus import write_corpus
from tests.reliability.reference import References


@pytest.fixture(scope="session")
def references(
    pg_server: EphemeralServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[References]:
    """Schemas of uninterrupted runs of the kill corpus, shared by every module."""
    directory = write_corpus(tmp_path_factory.mktemp("reference") / "migrations")
    for databases in scratch_databases(pg_server):
        yield References(databases, directory)
