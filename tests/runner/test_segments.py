"""Transaction wrappers and commit points, run against PostgreSQL.

A ``BEGIN ... COMMIT`` wrapper is the runner's one transaction; ``COMMIT``, ``END``,
``COMMIT AND CHAIN`` or several ``BEGIN ... COMMIT`` blocks cut a file into segments,
each committed on its own with its progress, and ``--resume`` continues at the first
unfinished one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.conftest import Project

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def test_a_wrapped_file_is_one_transaction(project: Project) -> None:
    project.write(
        {
            "001_wrapped.up.sql": (
                "BEGIN;\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n"
                "SELECT 1 / 0;\nCOMMIT;\n"
            ),
        }
    )

    failed = project.migrate("up")

    assert failed.code == 4, failed.output
    assert "001_wrapped.up.sql:4" in failed.stderr
    assert "nothing was changed (its transaction rolled back)" in failed.stderr
    assert "a" not in project.tables()  # the wrapper's first statements rolled back too
    assert project.ledger() == []
    project.write({"001_wrapped.up.sql": "BEGIN;\nCREATE TABLE a (id int);\nEND;\n"})
    applied = project.migrate("up")
    assert applied.code == 0, applied.output
    assert project.ledger() == [(1, "applied", 3)]
    assert project.history() == [(1, "failure"), (1, "up")]


@pytest.mark.parametrize(
    "commit",
    ["COMMIT", "END", "COMMIT AND CHAIN", "COMMIT;\nBEGIN", "END;\nSTART TRANSACTION"],
)
def test_each_commit_point_form_commits_its_segment(project: Project, commit: str) -> None:
    project.write(
        {
            "001_points.up.sql": (
                f"CREATE TABLE a (id int);\n{commit};\n"
                "CREATE TABLE b (id int REFERENCES a (id));\nSELECT 1 / 0;\n"
            ),
        }
    )

    failed = project.migrate("up")

    assert failed.code == 4, failed.output
    assert "segment 2 of 2 rolled back; the 1 before it committed and stay" in failed.stderr
    assert "a" in project.tables() and "b" not in project.tables()
    (version, state, done) = project.ledger()[0]
    assert (version, state) == (1, "failed")
    assert done == 2  # CREATE TABLE a and the commit point after it


def test_resume_continues_at_the_first_unfinished_segment(project: Project) -> None:
    broken = (
        "CREATE TABLE a (id int PRIMARY KEY);\nCOMMIT AND CHAIN;\n"
        "CREATE TABLE b (id int);\nINSERT INTO missing VALUES (1);\nCOMMIT AND CHAIN;\n"
        "CREATE TABLE c (id int);\n"
    )
    project.write({"001_chained.up.sql": broken, "001_chained.down.sql": "SELECT 1;\n"})

    failed = project.migrate("up")

    assert failed.code == 4, failed.output
    assert "`migrate up --resume` to continue at segment 2" in failed.stderr
    assert project.tables() >= {"a"} and not project.tables() & {"b", "c"}
    assert project.ledger() == [(1, "failed", 2)]
    refused = project.migrate("up")
    assert refused.code == 4 and "--resume" in refused.stderr
    # a segment that committed may not change under the resume
    project.write({"001_chained.up.sql": broken.replace("PRIMARY KEY", "")})
    changed = project.migrate("up", "--resume")
    assert changed.code == 4 and "is not the one that ran" in changed.stderr
    # the fix: segment 2 creates what it inserts into (segment 1 is unchanged)
    project.write({"001_chained.up.sql": broken.replace("INSERT INTO missing", "INSERT INTO b")})

    resumed = project.migrate("up", "--resume")

    # segment 1 did not run again (CREATE TABLE a would fail: it exists)
    assert resumed.code == 0, resumed.output
    assert "from segment 2" in resumed.stderr
    assert project.tables() >= {"a", "b", "c"}
    assert project.scalar("SELECT count(*) FROM b") == 1
    assert project.ledger() == [(1, "applied", 6)]
    assert project.history() == [(1, "failure"), (1, "up")]


def test_up_sql_shows_the_segments(project: Project) -> None:
    project.write(
        {
            "001_chained.up.sql": (
                "CREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE b (id int);\n"
            ),
        }
    )

    result = project.migrate("up", "--sql")

    assert result.code == 0, result.output
    out = result.stdout
    assert "2 segments, each in its own transaction, at its commit points" in out
    assert "-- segment 1/2: committed by the file's COMMIT AND CHAIN at line 2" in out
    assert "-- ledger: record progress (2 of 3 statements done)" in out
    assert "-- segment 2/2: committed by the runner, with the ledger row" in out
    assert out.count("BEGIN;") == 2 and out.count("COMMIT;") == 2
    assert "COMMIT AND CHAIN;" not in out  # the runner's own commits stand for it
    assert project.ledger() == []


def test_concurrently_alone_in_an_unmarked_file_runs_outside_a_transaction(
    project: Project,
) -> None:
    project.write(
        {
            "001_t.up.sql": "CREATE TABLE t (a int);\n",
            "002_i.up.sql": "CREATE INDEX CONCURRENTLY t_a ON t (a);\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 0, result.output
    assert "applying 002_i (no transaction)" in result.stderr
    assert project.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a'::regclass")


def test_sourcegraph_commit_and_chain_history_up_and_down(project: Project) -> None:
    corpus = CORPORA / "sourcegraph_codeintel"
    if not corpus.exists():
        pytest.skip("the corpora are not beside this checkout")
    project.directory = corpus

    up = project.migrate("up")

    assert up.code == 0, up.output
    assert "applying 0005_add_tenant_id_to_most_tables (13 segments at its commit points)" in (
        up.stderr
    )
    assert project.migrate("verify").code == 0
    assert [state for _, state, _ in project.ledger()] == ["applied"] * 33
    down = project.migrate("down", "--to", "4")
    assert down.code == 0, down.output
    assert "reverting 0005_add_tenant_id_to_most_tables (13 segments" in down.stderr
    assert max(version for version, _, _ in project.ledger()) == 4
    again = project.migrate("up")
    assert again.code == 0, again.output


def test_dry_run_rehearses_and_shows_the_segments(project: Project) -> None:
    project.write(
        {
            "001_chained.up.sql": (
                "CREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE b (id int);\n"
            ),
            "001_chained.down.sql": "DROP TABLE b;\nCOMMIT;\nDROP TABLE a;\n",
        }
    )
    server_url = project.database_url.rsplit("/", 1)[0] + "/postgres"

    result = project.migrate("dry-run", "--no-lint", url=server_url)

    assert result.code == 0, result.output
    assert "001_chained: ok" in result.stdout
    assert "2 segments at its commit points, each committed on its own" in result.stdout


def test_a_role_set_before_a_commit_point_lasts_and_the_progress_is_still_written(
    project: Project,
) -> None:
    """Each segment's progress is written inside its transaction on the migrating
    session, as the runner's role for that write only: a ``SET ROLE`` to a role that
    may not touch the ledger lasts into the next segment, as in PostgreSQL."""
    project.query("DROP ROLE IF EXISTS migrator_segment_owner")
    project.query("CREATE ROLE migrator_segment_owner")
    project.query("GRANT CREATE ON SCHEMA public TO migrator_segment_owner")
    try:
        project.write(
            {
                "001_as_owner.up.sql": (
                    "SET ROLE migrator_segment_owner;\nCREATE TABLE owned_1 (id int);\n"
                    "COMMIT;\nCREATE TABLE owned_2 (id int);\nCOMMIT;\n"
                    "SELECT pg_catalog.set_config('search_path', 'pg_temp', false);\n"
                    "CREATE TABLE public.owned_3 (id int);\n"
                ),
            }
        )

        result = project.migrate("up")

        assert result.code == 0, result.output
        owners = dict(
            project.query("SELECT tablename, tableowner FROM pg_tables WHERE tablename ~ 'owned'")
        )
        assert owners == {f"owned_{n}": "migrator_segment_owner" for n in (1, 2, 3)}
        assert project.ledger() == [(1, "applied", 7)]
        steps = project.scalar("SELECT progress -> 'steps' FROM migrator_ledger")
        assert [step["first"] for step in steps] == [0, 3]
        assert project.migrate("verify").code == 0
    finally:
        project.query("DROP OWNED BY migrator_segment_owner")
        project.query("DROP ROLE migrator_segment_owner")
