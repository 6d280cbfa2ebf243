"""Reading the catalog into a comparable schema, and the readable diff, on real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from migrator.schema.diff import diff_lines
from migrator.schema.introspect import Exclusions, read_schema
from migrator.schema.model import Schema, make_object

T = TypeVar("T")


def _run(database_url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        connection = await asyncpg.connect(database_url)
        try:
            return await work(connection)
        finally:
            await connection.close()

    return asyncio.run(main())


def _change(database_url: str, setup: str, change: str, **options: Any) -> list[str]:
    """Diff lines from the schema after ``setup`` to the schema after ``change``."""

    async def work(connection: Any) -> list[str]:
        if setup:
            await connection.execute(setup)
        before = await read_schema(connection, **options)
        await connection.execute(change)
        after = await read_schema(connection, **options)
        return diff_lines(before, after)

    return _run(database_url, work)


BASE = """
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(10,2));
CREATE INDEX accounts_email_idx ON accounts (email);
"""


def test_added_column_reads_as_one_line(database_url: str) -> None:
    lines = _change(database_url, BASE, "ALTER TABLE accounts ADD COLUMN region text")
    assert lines == ["table accounts: column region added"]


def test_type_default_and_nullability_changes(database_url: str) -> None:
    lines = _change(
        database_url,
        BASE,
        "ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12,2);"
        "ALTER TABLE accounts ALTER COLUMN email DROP NOT NULL;"
        "ALTER TABLE accounts ALTER COLUMN balance SET DEFAULT 0",
    )
    assert (
        "table accounts: column balance: type changed from numeric(10,2) to numeric(12,2)" in lines
    )
    assert "table accounts: column email: not null changed from yes to no" in lines
    assert "table accounts: column balance: default 0 added" in lines


def test_dropped_table_is_one_line_not_one_per_column(database_url: str) -> None:
    assert _change(database_url, BASE, "DROP TABLE accounts") == ["table accounts removed"]


def test_constraint_validity_and_index_validity(database_url: str) -> None:
    setup = BASE + (
        "ALTER TABLE accounts ADD CONSTRAINT balance_positive CHECK (balance >= 0) NOT VALID;"
    )
    lines = _change(
        database_url, setup, "ALTER TABLE accounts VALIDATE CONSTRAINT balance_positive"
    )
    assert lines == ["table accounts: constraint balance_positive: now VALID"]
    lines = _change(
        database_url,
        "",
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'accounts_email_idx'::regclass",
    )
    assert lines == ["table accounts: index accounts_email_idx: now INVALID"]


def test_every_kind_of_object_is_read(database_url: str) -> None:
    ddl = """
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE SCHEMA app;
    CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TYPE app.pair AS (a int, b text);
    CREATE DOMAIN app.positive AS int CHECK (VALUE > 0);
    CREATE SEQUENCE app.counter START 5;
    CREATE TABLE app.people (
        id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL,
        mood app.mood DEFAULT 'ok',
        name_upper text GENERATED ALWAYS AS (upper(name)) STORED
    );
    CREATE VIEW app.happy AS SELECT id, name FROM app.people WHERE mood = 'happy';
    CREATE MATERIALIZED VIEW app.counts AS SELECT mood, count(*) FROM app.people GROUP BY 1;
    CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
    CREATE PROCEDURE app.noop() LANGUAGE sql AS $$SELECT 1$$;
    CREATE TRIGGER people_touch BEFORE UPDATE ON app.people
        FOR EACH ROW EXECUTE FUNCTION app.touch();
    ALTER TABLE app.people ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON app.people USING (name = current_user);
    CREATE ROLE reader_for_introspection_test NOLOGIN;
    GRANT SELECT ON app.people TO reader_for_introspection_test;
    COMMENT ON TABLE app.people IS 'everyone';
    COMMENT ON COLUMN app.people.name IS 'full name';
    """

    async def work(connection: Any) -> Schema:
        try:
            await connection.execute(ddl)
            return await read_schema(connection, include_roles=True)
        finally:
            await connection.execute(
                "DROP SCHEMA app CASCADE; DROP ROLE IF EXISTS reader_for_introspection_test"
            )

    schema = _run(database_url, work)
    kinds = {obj.kind for obj in schema}
    for kind in (
        "schema",
        "extension",
        "type",
        "domain",
        "sequence",
        "table",
        "column",
        "constraint",
        "index",
        "view",
        "materialized view",
        "function",
        "procedure",
        "trigger",
        "policy",
        "grant",
        "comment",
        "role",
    ):
        assert kind in kinds, kind
    people = schema.get("table", "app.people")
    assert people is not None and people.attribute("row level security") == "yes"
    identity = schema.get("column", "app.people.id")
    assert identity is not None and identity.attribute("identity") == "always"
    generated = schema.get("column", "app.people.name_upper")
    assert generated is not None and "upper(name)" in (generated.attribute("generated") or "")
    mood = schema.get("type", "app.mood")
    assert mood is not None and mood.attribute("labels") == "sad, ok, happy"
    grant = schema.get("grant", "table app.people to reader_for_introspection_test")
    assert grant is not None and grant.attribute("privileges") == "SELECT"
    assert schema.get("comment", "table column app.people.name") is not None
    # objects that belong to the extension are left out; the extension stands for them
    assert not any(obj.name.startswith("public.similarity(") for obj in schema)


def test_grant_then_revoke_reads_as_nothing(database_url: str) -> None:
    setup = (
        BASE
        + "DO $$BEGIN CREATE ROLE grant_probe NOLOGIN;"
        + " EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
    )
    lines = _change(
        database_url,
        setup,
        "GRANT SELECT, INSERT ON accounts TO grant_probe; REVOKE ALL ON accounts FROM grant_probe",
    )
    assert lines == []
    lines = _change(database_url, "", "GRANT SELECT ON accounts TO grant_probe")
    assert lines == ["table accounts: grant SELECT to grant_probe added"]
    _change(database_url, "", "REVOKE ALL ON accounts FROM grant_probe; DROP ROLE grant_probe")


def test_ledger_tables_are_left_out(database_url: str) -> None:
    ddl = """
    CREATE SCHEMA ops;
    CREATE TABLE ops.my_ledger (version numeric PRIMARY KEY, name text);
    CREATE TABLE ops.my_ledger_history (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
    COMMENT ON TABLE ops.my_ledger IS 'ledger';
    """
    exclusions = Exclusions.for_ledger("ops", "my_ledger")

    async def work(connection: Any) -> Schema:
        await connection.execute(ddl)
        return await read_schema(connection, exclusions=exclusions)

    schema = _run(database_url, work)
    assert [obj.name for obj in schema if "ops" in obj.name or "ledger" in obj.name] == []


def test_function_body_change_shows_the_differing_line(database_url: str) -> None:
    setup = "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS $$SELECT 41$$;"
    lines = _change(
        database_url,
        setup,
        "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$SELECT 42$$",
    )
    assert len(lines) == 1
    assert lines[0].startswith("function answer(): definition changed (was:")
    assert "41" in lines[0] and "42" in lines[0]


def test_function_option_added_is_shown_as_the_added_line(database_url: str) -> None:
    setup = "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS $$SELECT 42$$;"
    lines = _change(database_url, setup, "ALTER FUNCTION answer() SECURITY DEFINER")
    assert lines == ["function answer(): definition changed (line added: SECURITY DEFINER)"]


def test_replica_identity_storage_statistics_and_view_defaults_are_compared(
    database_url: str,
) -> None:
    setup = BASE + "CREATE VIEW emails AS SELECT id, email FROM accounts;"
    changes = {
        "ALTER TABLE accounts REPLICA IDENTITY FULL": "table accounts: replica identity full added",
        "CREATE UNIQUE INDEX accounts_email_key ON accounts (email);"
        " ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_email_key":
        "table accounts: replica identity changed from full to using index accounts_email_key",
        "ALTER TABLE accounts ALTER COLUMN email SET STORAGE EXTERNAL":
        "table accounts: column email: storage external added",
        "ALTER TABLE accounts ALTER COLUMN email SET STATISTICS 500":
        "table accounts: column email: statistics target 500 added",
        "ALTER VIEW emails ALTER COLUMN email SET DEFAULT 'x'":
        "view emails: column defaults email = 'x'::text added",
    }  # fmt: skip
    for change, line in changes.items():
        lines = _change(database_url, setup, change)
        assert line in lines, (change, lines)
        setup = ""  # the next change starts from this one's schema
    # an index used as replica identity, then dropped: the table keeps relreplident 'i'
    lines = _change(database_url, "", "DROP INDEX accounts_email_key")
    assert (
        "table accounts: replica identity changed from using index accounts_email_key"
        " to using index (dropped: acts as nothing)" in lines
    )


def test_publications_are_compared(database_url: str) -> None:
    lines = _change(database_url, BASE, "CREATE PUBLICATION probe_pub FOR TABLE accounts")
    assert lines == ["publication probe_pub added"]
    lines = _change(
        database_url,
        "CREATE TABLE audit (id int PRIMARY KEY);",
        "ALTER PUBLICATION probe_pub ADD TABLE audit",
    )
    assert lines == ["publication probe_pub: tables changed from accounts to accounts, audit"]


def test_states_and_names_read_as_words(database_url: str) -> None:
    setup = (
        BASE
        + "CREATE SEQUENCE s1; CREATE SCHEMA app;"
        + " CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
        + " CREATE TRIGGER t1 BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION noop();"
    )
    change = """
    ALTER TABLE accounts DISABLE TRIGGER t1;
    ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
    ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;
    COMMENT ON COLUMN accounts.email IS 'login';
    ALTER SEQUENCE s1 OWNED BY accounts.id;
    """
    lines = _change(database_url, setup, change)
    assert "table accounts: trigger t1: enabled changed from yes to no" in lines
    assert "table accounts: row level security turned on" in lines
    assert any(
        line.startswith("default privileges for role ")
        and line.endswith(" in schema app on tables added")
        for line in lines
    ), lines
    assert "comment on table column accounts.email added" in lines
    assert "sequence s1: owned by accounts.id added" in lines
    assert not any("public." in line for line in lines), lines


def test_diff_is_pure_and_ordered() -> None:
    table = make_object("table", "public.t", {})
    before = Schema.of([table])
    after = Schema.of(
        [
            table,
            make_object(
                "column", "public.t.a", {"type": "int"}, parent=("table", "public.t"), label="a"
            ),
            make_object(
                "index",
                "public.t_a_idx",
                {"valid": False},
                parent=("table", "public.t"),
                label="t_a_idx",
            ),
        ]
    )
    assert diff_lines(before, after) == [
        "table t: column a added",
        "table t: index t_a_idx added",
    ]
    assert diff_lines(after, after) == []
