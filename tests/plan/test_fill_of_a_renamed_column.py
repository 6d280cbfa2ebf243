"""plandiff F47: a column with a default renamed, then SET NOT NULL on it.
Until the rename's contract the new name is a second column without the default, so
the fill of its NULL rows writes the default's expression, not ``DEFAULT`` (which was
NULL there: nothing filled, the VALIDATE failed 23514, half-applied)."""

from __future__ import annotations

from pathlib import Path

from tests.plan.scenario import Project, apply_all, execute, fetch, run

BASE = "CREATE TABLE a (id serial PRIMARY KEY, c bigint DEFAULT 5, d bigint);\n"
SEED = (
    "INSERT INTO a (c) SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE g END "
    "FROM generate_series(1, 20) g;\n"
)


def _fills(change: str, root: Path) -> list[str]:
    result = Project.create(root, BASE).plan(change)
    return [
        step.sql
        for migration in result.plan.migrations
        for step in migration.steps
        if "IS NULL" in step.sql and "UPDATE" in step.sql
    ]


def test_the_fill_of_a_renamed_column_writes_the_default_expression(tmp_path: Path) -> None:
    fills = _fills(
        "ALTER TABLE a RENAME COLUMN c TO r;\nALTER TABLE a ALTER COLUMN r SET NOT NULL;\n",
        tmp_path,
    )
    assert fills, "the NULL rows are filled"
    assert all("DEFAULT" not in sql and "r = (5)" in sql for sql in fills)


def test_the_fill_of_a_column_not_renamed_writes_default(tmp_path: Path) -> None:
    fills = _fills("ALTER TABLE a ALTER COLUMN c SET NOT NULL;\n", tmp_path)
    assert fills and all("c = DEFAULT" in sql for sql in fills)


def test_the_renamed_column_ends_not_null_with_the_rows_filled(
    database_url: str, tmp_path: Path
) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(
        "ALTER TABLE a RENAME COLUMN c TO r;\nALTER TABLE a ALTER COLUMN r SET NOT NULL;\n"
    )
    later = {int(v.version_text) for v in result.versions}

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, SEED)
        await apply_all(database_url, project.directory, versions=later)
        assert await fetch(database_url, "SELECT count(*) FROM a WHERE r = 5") == [(4,)]
        assert await fetch(
            database_url,
            "SELECT is_nullable, column_default FROM information_schema.columns "
            "WHERE table_name = 'a' AND column_name = 'r'",
        ) == [("NO", "5")]

    run(scenario())
