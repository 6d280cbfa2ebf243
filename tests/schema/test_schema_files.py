"""Schema files: a deterministic dump that loads again, pg_dump files with their noise,
and the comparison of a database with a committed file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from migrator.errors import UsageError
from migrator.rehearse.scratch import scratch_database
from migrator.schema.dump import dump_schema, pg_dump_schema
from migrator.schema.introspect import Exclusions
from migrator.schema.schema_file import APPLIED_PREFIX, normalise_dump, read_schema_file
from migrator.schema.verify import compare_with_file

SCHEMA = """
CREATE TYPE status AS ENUM ('new', 'done');
CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text UNIQUE);
CREATE TABLE tasks (
    id serial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    status status NOT NULL DEFAULT 'new',
    body jsonb
);
CREATE INDEX tasks_body_gin ON tasks USING gin (body);
CREATE VIEW open_tasks AS SELECT * FROM tasks WHERE status = 'new';
CREATE FUNCTION task_count() RETURNS bigint LANGUAGE sql AS $$SELECT count(*) FROM tasks$$;
DO $$BEGIN CREATE ROLE schema_file_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$;
GRANT SELECT ON projects TO schema_file_reader;
COMMENT ON TABLE tasks IS 'work items';
CREATE TABLE migrator_ledger (version numeric PRIMARY KEY, name text, state text);
CREATE TABLE migrator_ledger_history (id serial PRIMARY KEY, version numeric);
"""


async def _execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def test_dump_is_deterministic_and_free_of_noise(database_url: str) -> None:
    asyncio.run(_execute(database_url, SCHEMA))
    first = dump_schema(database_url, Exclusions(), [3, 1, 2])
    second = dump_schema(database_url, Exclusions(), [1, 2, 3])
    assert first == second
    assert f"{APPLIED_PREFIX} 1,2,3" in first.splitlines()[:3]
    for noise in ("\\restrict", "Dumped from", "Dumped by", "OWNER TO", "migrator_ledger"):
        assert noise not in first
    assert "CREATE TABLE public.tasks" in first


def test_dump_loads_again_and_compares_equal(
    database_url: str, tmp_path: Path, pg_server: Any
) -> None:
    asyncio.run(_execute(database_url, SCHEMA))
    path = tmp_path / "schema.sql"
    path.write_text(dump_schema(database_url, Exclusions(), [1]))

    async def compare() -> tuple[list[str], list[str]]:
        from migrator.schema.introspect import read_schema

        source = await asyncpg.connect(database_url)
        actual = await read_schema(source)
        await source.execute("ALTER TABLE tasks ADD COLUMN due date")
        drifted = await read_schema(source)
        await source.close()
        results = []
        for schema in (actual, drifted):
            async with scratch_database(pg_server.dsn()) as scratch_dsn:
                scratch = await asyncpg.connect(scratch_dsn)
                try:
                    results.append(await compare_with_file(schema, path, scratch))
                finally:
                    await scratch.close()
        return results[0], results[1]

    same, drift = asyncio.run(compare())
    assert same == []
    assert drift == ["table tasks: column due added"]


def test_pg_dump_file_with_restrict_keys_and_ledger_rows_is_read() -> None:
    raw = "\n".join(
        [
            "--",
            "-- PostgreSQL database dump",
            "--",
            "\\restrict AbCdEf123",
            "-- Dumped from database version 17.6",
            "-- Dumped by pg_dump version 17.6",
            "SET statement_timeout = 0;",
            "SET transaction_timeout = 0;",
            "CREATE TABLE public.t (id integer);",
            "GRANT SELECT ON TABLE public.t TO app_reader;",
            "COPY public.migrator_ledger (version, name, state) FROM stdin;",
            "1\tfirst\tapplied",
            "2\tsecond\tapplied",
            "3\tthird\tfailed",
            "\\.",
            "\\unrestrict AbCdEf123",
        ]
    )
    parsed = read_schema_file(raw)
    assert parsed.applied_versions == (1, 2)
    assert parsed.roles == ("app_reader",)
    assert parsed.statements[-2:] == (
        "CREATE TABLE public.t (id integer)",
        "GRANT SELECT ON TABLE public.t TO app_reader",
    )
    normalised = normalise_dump(raw.split("COPY")[0], [7])
    assert "restrict" not in normalised and "17.6" not in normalised
    assert "transaction_timeout" not in normalised


def test_other_psql_meta_commands_are_refused_with_the_line() -> None:
    with pytest.raises(UsageError, match=r"schema.sql:2: psql meta-command \\connect"):
        read_schema_file("CREATE TABLE t (id int);\n\\connect other\n", path="schema.sql")


def test_pg_dump_failure_is_one_line_without_password(pg_server: Any) -> None:
    from migrator.errors import ConnectionFailed

    dsn = f"postgresql://postgres:s3cret@127.0.0.1:{pg_server.port}/no_such_database"
    with pytest.raises(ConnectionFailed) as caught:
        pg_dump_schema(dsn, Exclusions())
    assert "s3cret" not in caught.value.one_line()
    assert "no_such_database" in caught.value.one_line()
