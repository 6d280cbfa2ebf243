"""plandiff F46: a serial key widened after its table was renamed (in the file or by an
earlier migration). A table rename keeps the sequence's first name (``a_id_seq``); the
contract used to name ``r2_id_seq`` (42P01, half-applied). It now finds the sequence at
run time (``pg_get_serial_sequence``), gives it to the new column and sets its default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plan.scenario import Project, apply_all, execute, fetch, run

SERIAL = "CREATE TABLE a (id serial PRIMARY KEY, v bigint);\n"
RENAME = "ALTER TABLE a RENAME TO r2;\n"
WIDEN = "ALTER TABLE r2 ALTER COLUMN id TYPE bigint;\n"
DEFAULT = (
    "SELECT data_type, column_default FROM information_schema.columns "
    "WHERE table_name = 'r2' AND column_name = 'id'"
)

FORMS = [
    pytest.param(SERIAL, RENAME + WIDEN, id="renamed-in-the-file"),
    pytest.param(SERIAL + RENAME, WIDEN, id="renamed-by-an-earlier-migration"),
]


@pytest.mark.parametrize(("base", "change"), FORMS)
def test_the_contract_does_not_name_the_sequence(base: str, change: str, tmp_path: Path) -> None:
    result = Project.create(tmp_path, base).plan(change)
    sql = "\n".join(s.sql for m in result.plan.migrations for s in m.steps)
    assert "r2_id_seq" not in sql
    assert "pg_get_serial_sequence('r2', 'id')" in sql


@pytest.mark.parametrize(("base", "change"), FORMS)
def test_the_widened_key_keeps_its_sequence(
    base: str, change: str, database_url: str, tmp_path: Path
) -> None:
    project = Project.create(tmp_path, base)
    result = project.plan(change)
    later = {int(v.version_text) for v in result.versions}

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        table = "r2" if RENAME in base else "a"
        await execute(
            database_url, f"INSERT INTO {table} (v) SELECT g FROM generate_series(1, 5) g;"
        )
        await apply_all(database_url, project.directory, versions=later)
        assert await fetch(database_url, DEFAULT) == [("bigint", "nextval('a_id_seq'::regclass)")]
        await execute(database_url, "INSERT INTO r2 (v) VALUES (6);")
        assert await fetch(database_url, "SELECT max(id) FROM r2") == [(6,)]
        assert await fetch(database_url, "SELECT pg_get_serial_sequence('r2', 'id')") == [
            ("public.a_id_seq",)
        ]

    run(scenario())
