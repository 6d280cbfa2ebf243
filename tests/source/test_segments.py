"""Transaction wrappers and commit points of files that run in transactions (no database)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.source import load_file
from migrator.source.discovery import runner_problems
from migrator.source.model import MigrationFile
from migrator.source.segments import cut_segments, transaction_controls

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def _file(sql: str) -> MigrationFile:
    return load_file(Path("001_x.up.sql"), data=sql.encode())


def _texts(migration_file: MigrationFile) -> list[list[str]]:
    return [[s.text for s in segment.statements] for segment in migration_file.segments]


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCOMMIT;\n",
        "START TRANSACTION;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\nEND;\n",
        "begin transaction;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\ncommit work;\n",
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCOMMIT;\n",
    ],
)
def test_a_wrapper_is_one_segment_without_its_begin_and_commit(sql: str) -> None:
    migration_file = _file(sql)

    assert migration_file.transactional and not migration_file.segmented
    assert _texts(migration_file) == [["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]]
    assert runner_problems(migration_file) == []


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [
        ("CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n", "COMMIT"),
        ("CREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE b (id int);\n",
         "COMMIT AND CHAIN"),
        ("CREATE TABLE a (id int);\nEND;\nCREATE TABLE b (id int);\n", "END"),
        ("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n",
         "COMMIT"),
        ("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n", "COMMIT"),
    ],
)  # fmt: skip
def test_each_commit_point_form_cuts_the_file_in_segments(sql: str, keyword: str) -> None:
    migration_file = _file(sql)

    assert migration_file.segmented
    assert _texts(migration_file) == [["CREATE TABLE a (id int)"], ["CREATE TABLE b (id int)"]]
    first, second = migration_file.segments
    assert first.commit is not None and first.commit.keyword == keyword
    assert first.number == 1 and second.number == 2
    # progress after segment 1 counts the statements up to its commit
    assert first.end == first.commit.statement.index + 1
    assert second.end == len(migration_file.statements)
    assert runner_problems(migration_file) == []


def test_statements_between_commit_and_begin_join_the_block_begin_continues() -> None:
    # as in PostgreSQL: BEGIN inside an implicit transaction extends it
    migration_file = _file(
        "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\nBEGIN;\n"
        "CREATE TABLE c (id int);\nCOMMIT;\n"
    )

    assert _texts(migration_file) == [
        ["CREATE TABLE a (id int)"],
        ["CREATE TABLE b (id int)", "CREATE TABLE c (id int)"],
    ]


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [
        ("CREATE TABLE a (id int);\nROLLBACK;\n", "ROLLBACK"),
        ("BEGIN;\nCREATE TABLE a (id int);\nPREPARE TRANSACTION 'x';\n", "PREPARE TRANSACTION"),
        ("COMMIT PREPARED 'x';\n", "COMMIT PREPARED"),
    ],
)
def test_rollback_and_two_phase_commands_stay_refused(sql: str, keyword: str) -> None:
    (problem,) = runner_problems(_file(sql))

    assert problem.code == "transaction-control"
    assert problem.message.startswith(f"{keyword} inside a migration that runs in a transaction")


def test_savepoints_are_no_commit_points() -> None:
    migration_file = _file("SAVEPOINT s;\nCREATE TABLE a (id int);\nROLLBACK TO SAVEPOINT s;\n")

    assert transaction_controls(migration_file.statements) == ()
    assert len(migration_file.segments) == 1
    assert runner_problems(migration_file) == []


def test_a_no_transaction_file_keeps_its_own_blocks() -> None:
    migration_file = _file("-- migrate:no-transaction\nBEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;\n")

    assert not migration_file.transactional and not migration_file.segmented


@pytest.mark.parametrize(
    ("sql", "alone"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a);", True),
        ("-- comment\nVACUUM t;\n", True),
        ("CREATE INDEX CONCURRENTLY i ON t (a);\nANALYZE t;\n", False),
        ("CREATE INDEX i ON t (a);", False),
        ("SELECT 'concurrently';", False),
    ],
)
def test_a_lone_statement_that_refuses_transactions_runs_outside_one(sql: str, alone: bool) -> None:
    assert _file(sql).transactional is not alone


_PLAIN = st.sampled_from(["SELECT 1", "CREATE TABLE t (id int)", "SAVEPOINT s", "SELECT 'COMMIT'"])
_CONTROL = st.sampled_from(["BEGIN", "START TRANSACTION", "COMMIT", "END", "COMMIT AND CHAIN"])


@given(st.lists(st.one_of(_PLAIN, _CONTROL), max_size=25))
def test_segments_keep_every_statement_once_in_order(texts: list[str]) -> None:
    migration_file = _file("".join(f"{text};\n" for text in texts))
    statements = migration_file.statements
    controls = {control.statement.index for control in transaction_controls(statements)}
    segments = cut_segments(statements)

    # every statement that is not BEGIN/COMMIT runs exactly once, in file order
    ran = [s.index for segment in segments for s in segment.statements]
    assert ran == [s.index for s in statements if s.index not in controls]
    assert all(segment.statements for segment in segments)
    # progress marks grow, and each segment lies before its mark
    for before, after in itertools.pairwise(segments):
        assert before.end <= after.start
    for segment in segments:
        assert segment.statements[-1].index < segment.end
    # one segment per run of statements between two commits
    commits = [i for i, text in enumerate(texts) if text in ("COMMIT", "END", "COMMIT AND CHAIN")]
    runs, current = 0, False
    for index, text in enumerate(texts):
        if index in commits:
            runs, current = runs + current, False
        elif text not in ("BEGIN", "START TRANSACTION"):
            current = True
    assert len(segments) == runs + current


@pytest.mark.parametrize(
    "path",
    sorted((CORPORA / "sourcegraph_codeintel").glob("*.sql"))
    if (CORPORA / "sourcegraph_codeintel").exists()
    else [],
    ids=lambda path: path.name,
)
def test_sourcegraph_commit_and_chain_files_run_as_segments(path: Path) -> None:
    migration_file = load_file(path, "down" if path.name.endswith(".down.sql") else "up")
    chains = sum(s.text.upper() == "COMMIT AND CHAIN" for s in migration_file.statements)

    assert runner_problems(migration_file) == []
    if chains:
        assert migration_file.segmented
        keywords = [s.commit.keyword for s in migration_file.segments if s.commit is not None]
        assert keywords == ["COMMIT AND CHAIN"] * chains
        assert len(migration_file.segments) == chains + 1
