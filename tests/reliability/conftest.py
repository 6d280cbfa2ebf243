"""Reliability tests: fault injection, hostile input, concurrency.

The longer variants carry ``@pytest.mark.slow``. Plain ``pytest`` (the CI command)
leaves them out; ``pytest -m slow tests/reliability`` (or
``python bench/reliability_long.py``) runs them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from migrator.ephemeral import EphemeralServer
from tests.reliability.database_state import scratch_databases
from tests.reliability.kill_corpus import write_corpus
from tests.reliability.reference import References

_HERE = __file__.rsplit("/", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect this directory's slow tests unless a marker expression was given."""
    if config.getoption("markexpr"):
        return
    keep, slow = [], []
    for item in items:
        is_ours = str(item.path).startswith(_HERE)
        (slow if is_ours and item.get_closest_marker("slow") else keep).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = keep


@pytest.fixture(scope="session")
def references(
    pg_server: EphemeralServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[References]:
    """Schemas of uninterrupted runs of the kill corpus, shared by every module."""
    directory = write_corpus(tmp_path_factory.mktemp("reference") / "migrations")
    for databases in scratch_databases(pg_server):
        yield References(databases, directory)
