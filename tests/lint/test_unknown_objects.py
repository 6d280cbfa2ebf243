"""A finding whose rule judged an object the replayed migrations never created says so.

For each kind of object a rule looks up (table, view, materialized view, index,
function, type, schema, a column of a known table, a column of a table whose columns
the replay cannot see), the same statement is linted twice: once after migrations that
do not create the object (the finding says it is not in the replayed schema and how it
was judged) and once after migrations that create it (the same finding, without the
note). The PostgreSQL tests run migrations whose objects come from a DO block and from
an extension, and check that what the linter judged is what the server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.ephemeral import EphemeralServer
from migrator.lint.engine import FileLinter
from migrator.lint.findings import Finding
from migrator.lint.options import LintOptions
from migrator.source import load_file
from migrator.sql.catalog import Catalog
from tests.conftest import fresh_database
from tests.lint.lintcases import lint_sql
from tests.lint.pgcheck import assert_observed, observe, schema_name

NOT_IN_REPLAY = "is not in the replayed schema"


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    sql: str
    #: the note the finding carries when the object is unknown
    note: str
    #: migrations that leave the object unknown to the replay
    unknown: tuple[str, ...]
    #: migrations that create it (the same finding, without the note)
    known: tuple[str, ...]


CASES = [
    Case(
        "table",
        "index-not-concurrent",
        "CREATE INDEX events_at_idx ON events (at);",
        "table public.events is not in the replayed schema",
        (),
        ("CREATE TABLE events (at timestamptz);",),
    ),
    Case(
        "table-known-only-from-an-alter",
        "index-not-concurrent",
        "CREATE INDEX events_at_idx ON events (at);",
        "table public.events is not in the replayed schema",
        ("ALTER TABLE events ADD COLUMN at timestamptz;",),
        ("CREATE TABLE events (id bigint); ALTER TABLE events ADD COLUMN at timestamptz;",),
    ),
    Case(
        "truncated-table",
        "truncate",
        "TRUNCATE sessions;",
        "table public.sessions is not in the replayed schema",
        (),
        ("CREATE TABLE sessions (id bigint);",),
    ),
    Case(
        "referenced-table-of-a-filled-table",
        "constraint-not-valid",
        "CREATE TABLE copy AS SELECT * FROM src;"
        " ALTER TABLE copy ADD FOREIGN KEY (user_id) REFERENCES users (id);",
        "table public.users is not in the replayed schema",
        ("CREATE TABLE src (user_id bigint);",),
        ("CREATE TABLE src (user_id bigint); CREATE TABLE users (id bigint PRIMARY KEY);",),
    ),
    Case(
        "table-an-insert-reads",
        "unbatched-backfill",
        "INSERT INTO archive SELECT * FROM events;",
        "table public.events is not in the replayed schema",
        ("CREATE TABLE archive (id bigint);",),
        ("CREATE TABLE archive (id bigint); CREATE TABLE events (id bigint);",),
    ),
    Case(
        "table-whose-lock-is-held",
        "statements-after-access-exclusive",
        "ALTER TABLE events ADD COLUMN payload text; CREATE TABLE other (id bigint);",
        "table public.events is not in the replayed schema",
        (),
        ("CREATE TABLE events (id bigint);",),
    ),
    Case(
        "view",
        "drop-table",
        "DROP VIEW active_users;",
        "view public.active_users is not in the replayed schema",
        (),
        ("CREATE TABLE users (id bigint); CREATE VIEW active_users AS SELECT * FROM users;",),
    ),
    Case(
        "renamed-view",
        "rename-table",
        "ALTER VIEW active_users RENAME TO current_users;",
        "view public.active_users is not in the replayed schema",
        (),
        ("CREATE TABLE users (id bigint); CREATE VIEW active_users AS SELECT * FROM users;",),
    ),
    Case(
        "materialized-view",
        "table-rewrite",
        "REFRESH MATERIALIZED VIEW totals;",
        "materialized view public.totals is not in the replayed schema",
        (),
        (
            "CREATE TABLE orders (total int);"
            " CREATE MATERIALIZED VIEW totals AS SELECT sum(total) FROM orders;",
        ),
    ),
    Case(
        "index",
        "drop-index-not-concurrent",
        "DROP INDEX users_email_idx;",
        "index public.users_email_idx is not in the replayed schema",
        (),
        ("CREATE TABLE users (email text); CREATE INDEX users_email_idx ON users (email);",),
    ),
    Case(
        "function-of-a-default",
        "add-column-rewrite",
        "ALTER TABLE users ADD COLUMN token text DEFAULT make_token();",
        "function make_token is not in the replayed schema",
        ("CREATE TABLE users (id bigint);",),
        (
            "CREATE TABLE users (id bigint);"
            " CREATE FUNCTION make_token() RETURNS text VOLATILE LANGUAGE sql"
            " AS 'SELECT md5(random()::text)';",
        ),
    ),
    Case(
        "altered-function",
        "security-definer-search-path",
        "ALTER FUNCTION purge() SECURITY DEFINER;",
        "function public.purge is not in the replayed schema",
        (),
        ("CREATE FUNCTION purge() RETURNS void LANGUAGE sql AS 'SELECT 1';",),
    ),
    Case(
        "enum-type",
        "enum-value-in-transaction",
        "ALTER TYPE mood ADD VALUE 'meh'; INSERT INTO people (mood) VALUES ('meh');",
        "type public.mood is not in the replayed schema",
        ("CREATE TABLE people (mood text);",),
        ("CREATE TABLE people (mood text); CREATE TYPE mood AS ENUM ('ok');",),
    ),
    Case(
        "schema",
        "drop-schema-or-database",
        "DROP SCHEMA reporting CASCADE;",
        "schema reporting is not in the replayed schema",
        (),
        ("CREATE SCHEMA reporting;",),
    ),
    Case(
        "dropped-column",
        "drop-column",
        "ALTER TABLE users DROP COLUMN legacy;",
        "column public.users.legacy is not in the replayed schema",
        ("CREATE TABLE users (id bigint);",),
        ("CREATE TABLE users (id bigint, legacy text);",),
    ),
    Case(
        "renamed-column",
        "rename-column",
        "ALTER TABLE users RENAME COLUMN name TO full_name;",
        "column public.users.name is not in the replayed schema",
        ("CREATE TABLE users (id bigint);",),
        ("CREATE TABLE users (id bigint, name text);",),
    ),
    Case(
        "column-losing-not-null",
        "drop-not-null",
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
        "column public.users.email is not in the replayed schema",
        ("CREATE TABLE users (id bigint);",),
        ("CREATE TABLE users (id bigint, email text NOT NULL);",),
    ),
    Case(
        "retyped-column",
        "column-type-rewrite",
        "ALTER TABLE users ALTER COLUMN age TYPE bigint;",
        "column public.users.age is not in the replayed schema",
        ("CREATE TABLE users (id bigint);",),
        ("CREATE TABLE users (id bigint, age int);",),
    ),
    Case(
        "column-of-a-table-created-as-select",
        "set-not-null",
        "ALTER TABLE user_copy ALTER COLUMN email SET NOT NULL;",
        "the columns of public.user_copy are not in the replayed schema",
        ("CREATE TABLE users (email text); CREATE TABLE user_copy AS SELECT * FROM users;",),
        ("CREATE TABLE user_copy (email text);",),
    ),
    Case(
        "column-of-a-table-created-in-a-do-block",
        "column-type-rewrite",
        "ALTER TABLE audit ALTER COLUMN id TYPE bigint;",
        "the columns of public.audit are not in the replayed schema",
        ("DO $$ BEGIN CREATE TABLE audit (id int); END $$;",),
        ("CREATE TABLE audit (id int);",),
    ),
]


def _hits(case: Case, earlier: tuple[str, ...]) -> list[Finding]:
    return [f for f in lint_sql(case.sql, earlier) if f.rule == case.rule]


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.rule}:{case.id}")
def test_a_finding_on_an_unknown_object_says_so(case: Case) -> None:
    hits = _hits(case, case.unknown)
    assert hits, f"{case.rule} did not fire"
    assert all(case.note in hit.message for hit in hits), [h.message for h in hits]
    assert all("judged as" in hit.message for hit in hits)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.rule}:{case.id}")
def test_the_same_finding_on_a_known_object_does_not(case: Case) -> None:
    hits = _hits(case, case.known)
    assert hits, f"{case.rule} did not fire"
    assert not any(NOT_IN_REPLAY in hit.message for hit in hits), [h.message for h in hits]


def test_no_note_without_a_finding_and_none_for_other_rules() -> None:
    """The note is the judging rule's: a rule that did not look the object up, or
    found nothing to report, adds none."""
    findings = lint_sql("ALTER TABLE users ADD COLUMN token text DEFAULT make_token();")
    noted = {f.rule for f in findings if "function make_token" in f.message}
    assert noted == {"add-column-rewrite"}
    quiet = lint_sql("ALTER TABLE users ADD COLUMN nickname text;", ())
    assert not any(NOT_IN_REPLAY in f.message for f in quiet if f.rule != "missing-lock-timeout")


def test_a_down_file_without_its_up_judges_unknown_tables_new_and_says_nothing() -> None:
    """What a down file reverts is its up's; without the up in reach, an unknown table
    counts as new: no locking finding, so no note either."""
    down = load_file(
        Path("0002_add.down.sql"), "down", b"CREATE INDEX t_id_idx ON unknown_table (id);"
    )
    linter = FileLinter(LintOptions())
    findings = linter.lint(down, Catalog(), "0002.down", unknown_tables_new=True)
    assert not any(NOT_IN_REPLAY in f.message for f in findings), findings
    assert not any(f.rule == "index-not-concurrent" for f in findings), findings


# -- on PostgreSQL: objects of a DO block and of an extension -------------------------

#: the earlier migration: an extension's function, a table and an index made by
#: dynamic SQL in a DO block, a table made by a plain CREATE TABLE in a DO block
SETUP = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE accounts (id bigint PRIMARY KEY);
DO $$ BEGIN
    EXECUTE format('CREATE TABLE %I (id int, at timestamptz)', 'dyn_events');
    EXECUTE format('CREATE INDEX %I ON dyn_events (at)', 'dyn_events_at');
    CREATE TABLE do_made (id int, note text);
END $$;
"""
ROWS = (
    "INSERT INTO accounts SELECT g FROM generate_series(1, 500) g;"
    " INSERT INTO dyn_events SELECT g, now() FROM generate_series(1, 500) g;"
    " INSERT INTO do_made SELECT g, 'n' FROM generate_series(1, 500) g;"
)


@dataclass(frozen=True)
class PgCase:
    id: str
    rule: str
    sql: str
    note: str
    #: the table PostgreSQL's behaviour is observed on, and what it does
    table: str
    expected: dict[str, object]


PG_CASES = [
    PgCase(
        "extension-function-in-a-default",
        "add-column-rewrite",
        "ALTER TABLE accounts ADD COLUMN salt text DEFAULT gen_salt('bf');",
        "function gen_salt is not in the replayed schema",
        "accounts",
        {"rewrite": True},
    ),
    PgCase(
        "table-made-by-dynamic-sql",
        "column-type-rewrite",
        "ALTER TABLE dyn_events ALTER COLUMN id TYPE bigint;",
        "table public.dyn_events is not in the replayed schema",
        "dyn_events",
        {"rewrite": True},
    ),
    PgCase(
        "index-made-by-dynamic-sql",
        "drop-index-not-concurrent",
        "DROP INDEX dyn_events_at;",
        "index public.dyn_events_at is not in the replayed schema",
        "dyn_events",
        {"locked": ["dyn_events"]},
    ),
    PgCase(
        "column-of-a-table-made-in-a-do-block",
        "set-not-null",
        "ALTER TABLE do_made ALTER COLUMN note SET NOT NULL;",
        "the columns of public.do_made are not in the replayed schema",
        "do_made",
        {"scan": True},
    ),
]


@pytest.fixture
def database(pg_server: EphemeralServer) -> Iterator[str]:
    """A database of its own for each case: an extension is installed once per
    database, in the schema of the case that creates it."""
    yield from fresh_database(pg_server, "unknown_objects")


@pytest.mark.parametrize("case", PG_CASES, ids=lambda case: case.id)
def test_unknown_objects_of_a_do_block_and_an_extension(case: PgCase, database: str) -> None:
    hits = [f for f in lint_sql(case.sql, (SETUP,)) if f.rule == case.rule]
    assert hits and all(case.note in hit.message for hit in hits), hits
    # the objects exist on the server, and it does what the finding says
    schema = schema_name(f"unknown_{case.id}")
    seen = observe(database, [SETUP, ROWS], case.sql, case.table, schema)
    assert_observed(seen, case.expected)
