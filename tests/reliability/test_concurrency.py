"""Sixteen ``migrate up`` processes started together, several rounds, over the kill
corpus (transactional migrations, a no-transaction migration with two ``CREATE INDEX
CONCURRENTLY``, and a concurrent build that fails if it runs twice): every process
exits 0, nobody deadlocks, and each migration is applied exactly once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability import kill_corpus as kc
from tests.reliability.database_state import ScratchDatabases, ledger_state
from tests.reliability.processes import MigrateProcess
from tests.reliability.reference import References, check_at_head

PROCESSES = 16
CI_ROUNDS = 3
#: rounds of the long variant (bench/reliability_long.py --rounds sets it)
SLOW_ROUNDS = int(os.environ.get("RELIABILITY_ROUNDS", "12"))

#: every process may have to wait for all the others: no lock wait expires
ENV = {"MIGRATOR_LOCK_WAIT": "300s", "MIGRATOR_LOCK_TIMEOUT": "30s"}


def _round(
    number: int,
    directory: Path,
    databases: ScratchDatabases,
    workdir: Path,
    references: References,
) -> None:
    database_url = databases.create()
    # odd rounds: half the processes stop at version 3, so later ones find a
    # partly applied database and apply the rest
    commands = [
        ("up", "--to", "3") if number % 2 and index % 2 else ("up",) for index in range(PROCESSES)
    ]
    processes = [
        MigrateProcess(
            directory, database_url, *command, workdir=workdir / f"round{number}", env=ENV
        )
        for command in commands
    ]
    finished = [process.wait(timeout=300) for process in processes]

    assert [result.code for result in finished] == [0] * PROCESSES, [
        result.output for result in finished if result.code
    ]
    combined = "".join(result.output for result in finished)
    assert "deadlock" not in combined and "Traceback" not in combined
    applied_counts = [
        int(line.split()[1])
        for result in finished
        for line in result.stdout.splitlines()
        if line.startswith("applied ")
    ]
    assert sum(applied_counts) == kc.HEAD, combined
    state = ledger_state(database_url)
    assert state.history == tuple((version, "up") for version in range(1, kc.HEAD + 1))
    check_at_head(directory, database_url, references)


def _rounds(
    rounds: int, tmp_path: Path, databases: ScratchDatabases, references: References, rows: int
) -> None:
    directory = kc.write_corpus(tmp_path / "migrations", rows)
    for number in range(1, rounds + 1):
        _round(number, directory, databases, tmp_path / "runs", references)


@pytest.fixture
def databases(references: References) -> ScratchDatabases:
    return references.databases


def test_sixteen_processes_apply_each_migration_exactly_once(
    tmp_path: Path, databases: ScratchDatabases, references: References
) -> None:
    _rounds(CI_ROUNDS, tmp_path, databases, references, kc.CI_ROWS)


@pytest.mark.slow
def test_sixteen_processes_many_rounds_on_a_larger_table(
    tmp_path: Path, databases: ScratchDatabases, references: References
) -> None:
    _rounds(SLOW_ROUNDS, tmp_path, databases, references, kc.SLOW_ROWS)
