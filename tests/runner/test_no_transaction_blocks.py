"""A ``-- migrate:no-transaction`` file may open its own ``BEGIN ... COMMIT`` block.
Progress inside the block rolls back with it, so the ledger counts only what stays
committed, and a block never closed is refused before anything runs."""

from __future__ import annotations

from tests.runner.conftest import Project

BLOCK = (
    "-- migrate:no-transaction\n"
    "CREATE TABLE before_block (id int);\n"
    "BEGIN;\n"
    "CREATE TABLE in_block (id int);\n"
    "SELECT 1/0;\n"
    "COMMIT;\n"
)


def test_a_failure_inside_the_files_own_block_resumes_from_its_begin(project: Project) -> None:
    project.write({"001_block.up.sql": BLOCK})

    failed = project.migrate("up")

    assert failed.code == 4
    assert "continue from the BEGIN at line 3" in failed.stderr
    assert project.ledger() == [(1, "failed", 1)]  # the block's statements rolled back
    assert "in_block" not in project.tables() and "before_block" in project.tables()

    project.write({"001_block.up.sql": BLOCK.replace("SELECT 1/0", "SELECT 1")})
    resumed = project.migrate("up", "--resume")

    assert resumed.code == 0, resumed.stderr
    assert {"before_block", "in_block"} <= project.tables()
    assert project.ledger() == [(1, "applied", 5)]


def test_a_block_the_file_never_commits_is_refused_before_anything_runs(
    project: Project,
) -> None:
    project.write(
        {
            "001_first.up.sql": "CREATE TABLE first (id int);\n",
            "002_open.up.sql": "-- migrate:no-transaction\nBEGIN;\nCREATE TABLE a (id int);\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 2
    assert "002_open.up.sql:2: BEGIN opens a transaction block that the file never commits" in (
        result.stderr
    )
    assert project.ledger() == []
    assert project.tables() == set()


def test_a_block_that_ends_in_prepare_transaction_is_refused_before_anything_runs(
    project: Project,
) -> None:
    """The block's work would stay prepared (invisible, holding its locks) while the
    ledger said applied; a later ROLLBACK PREPARED would lose it for good."""
    project.write(
        {
            "001_first.up.sql": "CREATE TABLE first (id int);\n",
            "002_prepared.up.sql": (
                "-- migrate:no-transaction\nBEGIN;\nINSERT INTO first VALUES (1);\n"
                "PREPARE TRANSACTION 'x';\n"
            ),
        }
    )

    result = project.migrate("up")

    assert result.code == 2, result.output
    assert "002_prepared.up.sql:4: PREPARE TRANSACTION leaves the block's work prepared" in (
        result.stderr
    )
    assert project.ledger() == []
    assert project.tables() == set()


def test_a_closed_block_applies_and_counts_every_statement(project: Project) -> None:
    project.write({"001_block.up.sql": BLOCK.replace("SELECT 1/0", "SELECT 1")})

    result = project.migrate("up")

    assert result.code == 0, result.stderr
    assert project.ledger() == [(1, "applied", 5)]


def test_a_procedure_that_commits_fails_in_a_transaction_naming_the_directive(
    project: Project,
) -> None:
    project.write(
        {
            "001_proc.up.sql": (
                "CREATE TABLE a (id int);\n"
                "CREATE PROCEDURE fill() LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO a VALUES (1); COMMIT; INSERT INTO a VALUES (2); END $$;\n"
            ),
            "002_call.up.sql": "CALL fill();\n",
        }
    )

    failed = project.migrate("up")

    assert failed.code == 4, failed.output
    assert "invalid transaction termination" in failed.stderr
    assert "add `-- migrate:no-transaction`" in failed.stderr
    assert project.scalar("SELECT count(*) FROM a") == 0
    project.write({"002_call.up.sql": "-- migrate:no-transaction\nCALL fill();\n"})
    assert project.migrate("up").code == 0
    assert project.scalar("SELECT count(*) FROM a") == 2
