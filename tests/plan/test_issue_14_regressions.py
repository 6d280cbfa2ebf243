"""Regressions of issue 14: each change runs as the naive SQL on one database and as
the plan, phase by phase through the runner, on another. The plan either ends with the
naive SQL's rows, or fails where the naive SQL fails with nothing destroyed, or is
refused with a precise reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from migrator.errors import MigrationFailed
from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import (
    Project,
    apply_all,
    execute,
    fetch,
    leftovers,
    naive_error,
    run,
    schema_difference,
)

ORDERS = """
CREATE TABLE orders (id serial PRIMARY KEY, status text NOT NULL, note text);
"""

ORDERS_SEED = """
INSERT INTO orders (status, note) SELECT 'shipped', 'n' || g FROM generate_series(1, 300) g;
"""


def _phase_versions(project: Project) -> dict[str, set[int]]:
    phases: dict[str, set[int]] = {}
    for version in project.results[-1].versions:
        phase = version.rendered.migration.phase
        phases.setdefault(phase, set()).add(int(version.version_text))
    return phases


def _planned(project: Project) -> set[int]:
    return {int(version.version_text) for version in project.results[-1].versions}


@pytest.mark.parametrize(
    "new_type", ["varchar(20)", "varchar(200)", "character varying(10)", "char(5)"]
)
def test_a_narrowing_type_change_fails_where_the_naive_alter_fails_destroying_nothing(
    new_type: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 1: ``text -> varchar(n)`` on values longer than ``n`` fails with 22001 in the
    naive ALTER; the plan must not cut them (an explicit CAST would): its expand fails
    with the same error, and the table is as it was, every value intact."""
    project = Project.create(tmp_path, ORDERS)
    project.plan(f"ALTER TABLE orders ALTER COLUMN status TYPE {new_type};\n")
    naive, planned = other_database_url, database_url
    data = "SELECT id, status, note FROM orders ORDER BY id"
    change = f"ALTER TABLE orders ALTER COLUMN status TYPE {new_type}"
    long_value = "x" * 201

    async def scenario() -> None:
        await execute(naive, ORDERS)
        await apply_all(planned, project.directory, versions={1})
        for dsn in (naive, planned):
            await execute(dsn, ORDERS_SEED)
            await execute(dsn, f"UPDATE orders SET status = '{long_value}' WHERE id % 3 = 0")
        assert await naive_error(naive, change) == "22001"
        before = await fetch(planned, data)

        with pytest.raises(MigrationFailed, match="value too long"):
            await apply_all(planned, project.directory, versions=_phase_versions(project)["expand"])
        assert await fetch(planned, data) == before == await fetch(naive, data)
        assert await fetch(
            planned, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'"
        ) == [(3,)]
        assert await leftovers(planned) == []

    run(scenario())


def test_a_narrowing_type_change_whose_values_fit_ends_like_the_naive_alter(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 1, the other side: values that fit are copied as the naive ALTER converts
    them (``char(n)`` pads), and a too long value written by old code during the
    transition fails as it would after the naive ALTER, instead of being cut."""
    project = Project.create(tmp_path, ORDERS)
    project.plan("ALTER TABLE orders ALTER COLUMN status TYPE char(10);\n")
    naive, planned = other_database_url, database_url
    data = "SELECT status, status::text, note FROM orders ORDER BY id"  # not id: see below

    async def scenario() -> None:
        await execute(naive, ORDERS + ORDERS_SEED)
        await execute(naive, "ALTER TABLE orders ALTER COLUMN status TYPE char(10)")
        await execute(naive, "INSERT INTO orders (status) VALUES ('late')")

        phases = _phase_versions(project)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, ORDERS_SEED)
        await apply_all(planned, project.directory, versions=phases["expand"])
        with pytest.raises(asyncpg.StringDataRightTruncationError):  # it takes an id
            await execute(planned, "INSERT INTO orders (status) VALUES ('far_too_long_value')")
        await execute(planned, "INSERT INTO orders (status) VALUES ('late')")
        await apply_all(planned, project.directory, versions=phases["backfill"])
        await apply_all(planned, project.directory, versions=phases["contract"])
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await leftovers(planned) == []

    run(scenario())


def test_a_type_change_without_an_assignment_cast_fails_in_the_expand_with_nothing_changed(
    database_url: str, tmp_path: Path
) -> None:
    """``text -> integer`` without USING: the naive ALTER fails (no assignment cast);
    so does the plan's expand migration, before any column or trigger exists."""
    project = Project.create(tmp_path, ORDERS)
    project.plan("ALTER TABLE orders ALTER COLUMN note TYPE integer;\n")

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, ORDERS_SEED + "UPDATE orders SET note = id::text;")
        assert await naive_error(database_url, "ALTER TABLE orders ALTER COLUMN note TYPE integer")
        with pytest.raises(MigrationFailed, match="is of type integer but expression is of type"):
            await apply_all(
                database_url, project.directory, versions=_phase_versions(project)["expand"]
            )
        assert await leftovers(database_url) == []
        assert await fetch(
            database_url,
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'orders' AND column_name LIKE 'note%'",
        ) == [("text",)]

    run(scenario())


INHERITED = """
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, seen boolean DEFAULT false);
CREATE TABLE archived_events () INHERITS (events);
"""

INHERITED_SEED = """
INSERT INTO events (kind) SELECT 'k' || g % 4 FROM generate_series(1, 200) g;
INSERT INTO archived_events (kind) SELECT 'k' || g % 4 FROM generate_series(1, 100) g;
"""


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM ONLY events WHERE kind = 'k1'",
        "UPDATE ONLY events SET seen = true WHERE kind <> 'k2'",
        "DELETE FROM ONLY public.events e WHERE e.kind = 'k3'",
    ],
)
def test_only_stays_only_in_the_batches(
    change: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 3: the batched statement keeps ``ONLY``: the rows of inheriting tables
    are left as the naive statement leaves them."""
    project = Project.create(tmp_path, INHERITED)
    result = project.plan(change + ";\n")
    assert [c.recipe for c in result.plan.changes] in (["batched delete"], ["batched backfill"])
    naive, planned = other_database_url, database_url
    data = "SELECT tableoid::regclass::text, id, kind, seen FROM events ORDER BY 1, 2"

    async def scenario() -> None:
        await execute(naive, INHERITED + INHERITED_SEED + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, INHERITED_SEED)
        await apply_all(planned, project.directory, versions=_planned(project))
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await fetch(planned, "SELECT count(*) FROM archived_events") == [(100,)]

    run(scenario())


def test_reindex_keeps_its_options(database_url: str, tmp_path: Path) -> None:
    """Item 3: ``REINDEX (TABLESPACE x, VERBOSE)`` keeps both options when it becomes
    concurrent, and the planned statement runs."""
    project = Project.create(tmp_path, ORDERS + "CREATE INDEX orders_note_idx ON orders (note);\n")
    result = project.plan(
        "REINDEX (TABLESPACE pg_default, VERBOSE) INDEX orders_note_idx;\n"
        "REINDEX (VERBOSE) TABLE orders;\n"
    )
    up = "\n".join(version.rendered.up for version in result.versions)
    assert "REINDEX (TABLESPACE 'pg_default', VERBOSE, CONCURRENTLY) INDEX orders_note_idx" in up
    assert "REINDEX (VERBOSE, CONCURRENTLY) TABLE orders" in up

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await apply_all(database_url, project.directory, versions=_planned(project))
        assert await leftovers(database_url) == []

    run(scenario())


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE orders ADD COLUMN state text;\n"
        "ALTER TABLE orders ALTER COLUMN state SET DEFAULT 'new';\n",
        "ALTER TABLE orders ADD COLUMN state text, ALTER COLUMN state SET DEFAULT 'new';\n",
        "ALTER TABLE orders ADD COLUMN state text;\n"
        "CREATE FUNCTION orders_state() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN NEW.state := coalesce(NEW.state, ''new''); RETURN NEW; END';\n"
        "CREATE TRIGGER orders_state BEFORE INSERT ON orders "
        "FOR EACH ROW EXECUTE FUNCTION orders_state();\n",
    ],
    ids=["set-default", "one-alter-table", "trigger"],
)
def test_no_insert_sees_a_column_without_its_default(
    change: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 4: after every single migration of the plan, an insert of old code gets
    the value the naive SQL gives it, as soon as the column exists."""
    project = Project.create(tmp_path, ORDERS)
    project.plan(change)
    naive, planned = other_database_url, database_url
    insert = "INSERT INTO orders (status) VALUES ('placed')"
    data = "SELECT status, state FROM orders ORDER BY id"

    async def scenario() -> None:
        await execute(naive, ORDERS + ORDERS_SEED + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, ORDERS_SEED)
        for version in sorted(_planned(project)):
            await apply_all(planned, project.directory, versions={version})
            await execute(planned, insert)
            await execute(naive, insert)
            exists = await fetch(
                planned,
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'orders' AND column_name = 'state'",
            )
            if exists == [(1,)]:
                assert await fetch(
                    planned, "SELECT state FROM orders ORDER BY id DESC LIMIT 1"
                ) == [("new",)]
        assert await fetch(planned, data) == await fetch(naive, data)

    run(scenario())


PEOPLE = "CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, age int);\n"


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE people ADD COLUMN first_name text;\n"
        "ALTER TABLE people ADD COLUMN last_name text;\n"
        "UPDATE people SET first_name = split_part(name, ' ', 1), "
        "last_name = split_part(name, ' ', 2);\n"
        "ALTER TABLE people DROP COLUMN name;\n",
        "ALTER TABLE people ADD COLUMN first_name text;\n"
        "UPDATE people p SET first_name = 'x' WHERE p.name LIKE 'a%';\n",
        "ALTER TABLE people ADD COLUMN nickname text;\nUPDATE people SET nickname = 'none';\n",
    ],
    ids=["split-a-column", "condition-on-an-old-column", "constant"],
)
def test_a_backfill_of_a_column_the_change_adds_is_refused(change: str, tmp_path: Path) -> None:
    """Item 2: no sync trigger is planned for a new column's values, so a backfill of
    one (from a column old code still writes, or a constant old code's inserts lack) is
    refused, with the reason."""
    project = Project.create(tmp_path, PEOPLE)
    reason = (
        r"which running code keeps writing until the deploy"
        if "name LIKE" in change or "split_part" in change
        else r"a row running code inserts after its batch .* would keep it NULL"
    )
    with pytest.raises(CannotPlan, match=reason):
        project.plan(change)
    assert sorted(p.name for p in project.directory.iterdir()) == [
        "001_base.down.sql",
        "001_base.up.sql",
    ]


def test_an_old_column_computed_from_itself_is_planned(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 2, what stays planned: an old column computed from itself (the batches'
    documented semantics), beside a new column with a default."""
    project = Project.create(tmp_path, PEOPLE)
    change = (
        "ALTER TABLE people ADD COLUMN nickname text DEFAULT 'none';\n"
        "UPDATE people SET age = age + 1 WHERE age IS NOT NULL;\n"
    )
    result = project.plan(change)
    assert [c.recipe for c in result.plan.changes][-1:] == ["batched backfill"]
    naive, planned = other_database_url, database_url
    seed = "INSERT INTO people (name, age) SELECT 'p ' || g, g % 50 FROM generate_series(1, 300) g"
    data = "SELECT id, name, age, nickname FROM people ORDER BY id"

    async def scenario() -> None:
        await execute(naive, PEOPLE + seed + ";\n" + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        await apply_all(planned, project.directory, versions=_planned(project))
        assert await fetch(planned, data) == await fetch(naive, data)

    run(scenario())


TICKETS = """
CREATE FUNCTION next_code() RETURNS text LANGUAGE sql AS $$ SELECT md5(random()::text) $$;
CREATE TABLE tickets (id serial PRIMARY KEY, code text DEFAULT next_code());
CREATE TABLE tags (id serial PRIMARY KEY, label text NOT NULL);
CREATE TABLE notes (id serial PRIMARY KEY, body text);
"""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            "DROP TABLE tickets;\nDROP FUNCTION next_code();\n",
            r"it drops or changes an object the earlier statement may use",
        ),
        (
            "DELETE FROM tags WHERE id > 1000;\n"
            "CREATE UNIQUE INDEX tags_label_key ON tags (label);\n",
            r"which the plan runs in the backfill phase, .* both name public\.tags",
        ),
        (
            "DELETE FROM tags WHERE label = 'x';\nINSERT INTO tags (label) VALUES ('x');\n",
            r"both name public\.tags",
        ),
    ],
    ids=["drop-table-then-its-default-function", "delete-then-unique-index", "delete-then-insert"],
)
def test_a_statement_that_would_run_before_one_it_follows_and_depends_on_is_refused(
    change: str, reason: str, tmp_path: Path
) -> None:
    """Item 5: a statement moved to a later phase must not be overtaken by a later
    statement of the file that depends on it."""
    project = Project.create(tmp_path, TICKETS)
    with pytest.raises(CannotPlan, match=reason):
        project.plan(change)


def test_independent_statements_still_plan_around_a_moved_one(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 5, what stays planned: the later statement touches another table."""
    project = Project.create(tmp_path, TICKETS)
    change = "DELETE FROM tags WHERE id > 50;\nCREATE INDEX notes_body_idx ON notes (body);\n"
    result = project.plan(change)
    assert [c.recipe for c in result.plan.changes] == [
        "batched delete",
        "create index concurrently",
    ]
    naive, planned = other_database_url, database_url
    seed = "INSERT INTO tags (label) SELECT 't' || g FROM generate_series(1, 100) g"
    data = "SELECT id, label FROM tags ORDER BY id"

    async def scenario() -> None:
        await execute(naive, TICKETS + seed + ";\n" + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        await apply_all(planned, project.directory, versions=_planned(project))
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await schema_difference(naive, planned, set()) == []

    run(scenario())


def test_two_recipes_on_one_column_are_refused_not_half_applied(tmp_path: Path) -> None:
    """Item 6 (plandiff F7): a type change then a rename of the same column both made
    ``migrator_orders_amount_sync``; the second expand failed with 42723 half-applied.
    The rename would run before the type change's contract: refused, naming the column
    the plan finishes only in its contract."""
    project = Project.create(
        tmp_path, "CREATE TABLE orders (id serial PRIMARY KEY, amount numeric);\n"
    )
    with pytest.raises(CannotPlan, match=r"orders\.amount is renamed or retyped earlier"):
        project.plan(
            "ALTER TABLE orders ALTER COLUMN amount TYPE integer USING amount::integer;\n"
            "ALTER TABLE orders RENAME COLUMN amount TO amount_cents;\n"
        )


def test_generated_names_differ_per_statement_and_avoid_the_replayed_schema(
    tmp_path: Path,
) -> None:
    """Item 6: a sync function's name carries a hash of the statement, so two plans on
    one column never share it; a name the replayed schema has already is refused."""
    project = Project.create(tmp_path, ORDERS + "CREATE INDEX orders_note_idx ON orders (note);\n")
    first = project.plan("ALTER TABLE orders ALTER COLUMN note TYPE varchar(100);\n")
    (function,) = {
        line.split()[2].split("(")[0]
        for version in first.versions
        for line in version.rendered.up.splitlines()
        if line.startswith("CREATE FUNCTION")
    }
    assert function.startswith("migrator_orders_note_") and function.endswith("_sync")
    for version in first.files:
        version.path.unlink()

    (tmp_path / "other").mkdir()
    other = Project.create(tmp_path / "other", ORDERS)
    (other.directory / "001_base.up.sql").write_text(
        ORDERS + f"CREATE FUNCTION {function}() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
    )
    with pytest.raises(
        CannotPlan,
        match=rf"the sync function and trigger public.{function}|"
        rf"{function}, but that name is taken",
    ):
        other.plan("ALTER TABLE orders ALTER COLUMN note TYPE varchar(100);\n")
    second = other.plan("ALTER TABLE orders ALTER COLUMN note TYPE varchar(120);\n")
    assert function not in "".join(v.rendered.up for v in second.versions)


SESSIONS = """
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE TABLE sessions (id serial PRIMARY KEY, customer_id int);
CREATE TABLE old_sessions (id serial PRIMARY KEY);
"""


def test_an_index_name_moved_to_another_table_ends_like_the_naive_sql(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 7 (plandiff F8): index names are schema-wide; the old index keeps the name
    until the contract, so the new one is built under another name and takes it then
    (``IF NOT EXISTS`` used to skip it, and the contract dropped the only index)."""
    project = Project.create(tmp_path, SESSIONS)
    change = (
        "DROP INDEX orders_customer_id_idx;\n"
        "CREATE INDEX orders_customer_id_idx ON sessions (customer_id);\n"
    )
    project.plan(change)
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, SESSIONS + change)
        await apply_all(planned, project.directory, versions={1})
        await apply_all(planned, project.directory, versions=_planned(project))
        assert await schema_difference(naive, planned, set()) == []
        assert await fetch(
            planned,
            "SELECT indrelid::regclass::text FROM pg_index "
            "WHERE indexrelid = 'orders_customer_id_idx'::regclass",
        ) == [("sessions",)]
        assert await leftovers(planned) == []

    run(scenario())


def test_a_table_renamed_to_the_name_of_one_dropped_earlier_is_refused(tmp_path: Path) -> None:
    """Item 7 (plandiff F9): the dropped table keeps its name until the contract, so
    the rename in the expand phase would fail with 42P07."""
    project = Project.create(tmp_path, SESSIONS)
    with pytest.raises(CannotPlan, match=r"old_sessions is dropped earlier in the change"):
        project.plan("DROP TABLE old_sessions;\nALTER TABLE sessions RENAME TO old_sessions;\n")


USERS = """
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, qty int, price int);
CREATE INDEX users_email_idx ON users (email);
"""


@pytest.mark.parametrize(
    ("extra", "change", "dependent"),
    [
        (
            "CREATE VIEW active_users AS SELECT id, email FROM users;",
            "ALTER TABLE users RENAME COLUMN email TO email_address",
            "view public.active_users",
        ),
        (
            "CREATE VIEW everyone AS SELECT * FROM users;",
            "ALTER TABLE users ALTER COLUMN email TYPE varchar(300)",
            "view public.everyone",
        ),
        (
            "CREATE MATERIALIZED VIEW emails AS SELECT u.email FROM users u;",
            "ALTER TABLE users DROP COLUMN email",
            "materialized view public.emails",
        ),
        (
            "ALTER TABLE users ADD COLUMN total int GENERATED ALWAYS AS (qty * price) STORED;",
            "ALTER TABLE users RENAME COLUMN qty TO quantity",
            "generated column public.users.total",
        ),
        (
            "CREATE POLICY own ON users USING (email = current_user);",
            "ALTER TABLE users DROP COLUMN email",
            "policy own on public.users",
        ),
    ],
    ids=["view-rename", "star-view-retype", "matview-drop", "generated-rename", "policy-drop"],
)
def test_a_column_with_dependents_is_refused_with_them_named(
    extra: str, change: str, dependent: str, tmp_path: Path
) -> None:
    """Item 8 (plandiff F10, F15): the contract's DROP COLUMN would fail with 2BP01
    after the expand and backfill ran (leaving trigger, function and column behind):
    refused, naming the dependent."""
    project = Project.create(tmp_path, USERS + extra + "\n")
    with pytest.raises(CannotPlan, match=rf"{dependent} depends on it"):
        project.plan(change + ";\n")


def test_a_dropped_dependent_no_longer_counts(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path,
        USERS + "CREATE VIEW active_users AS SELECT id, email FROM users;\n"
        "DROP VIEW active_users;\n",
    )
    result = project.plan("ALTER TABLE users RENAME COLUMN email TO email_address;\n")
    assert [c.recipe for c in result.plan.changes] == ["rename column"]


def test_a_view_recreated_over_a_renamed_column_is_refused(tmp_path: Path) -> None:
    """Item 8 (plandiff F11): the view made in the expand phase would read the new
    column before the backfill filled it."""
    project = Project.create(
        tmp_path, USERS + "CREATE VIEW user_emails AS SELECT id, email FROM users;\n"
    )
    with pytest.raises(CannotPlan, match=r"both name public\.users"):
        project.plan(
            "DROP VIEW user_emails;\n"
            "ALTER TABLE users RENAME COLUMN email TO email_address;\n"
            "CREATE VIEW user_emails AS SELECT id, email_address AS email FROM users;\n"
        )


ARCHIVE = """
CREATE SCHEMA archive;
CREATE TABLE orders (id serial PRIMARY KEY, total int);
CREATE TABLE archive.orders (id int PRIMARY KEY, total int);
"""


def test_an_update_from_a_table_of_the_same_name_in_another_schema_is_batched(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 9 (plandiff F12): ``orders`` resolves to ``public.orders``, not
    ``archive.orders``: the statement does not read the table it changes."""
    project = Project.create(tmp_path, ARCHIVE)
    change = "UPDATE orders SET total = a.total FROM archive.orders a WHERE a.id = orders.id;\n"
    result = project.plan(change)
    assert [c.recipe for c in result.plan.changes] == ["batched backfill"]
    naive, planned = other_database_url, database_url
    seed = (
        "INSERT INTO orders (total) SELECT g FROM generate_series(1, 300) g;"
        "INSERT INTO archive.orders SELECT g, g * 10 FROM generate_series(1, 300, 2) g;"
    )
    data = "SELECT id, total FROM orders ORDER BY id"

    async def scenario() -> None:
        await execute(naive, ARCHIVE + seed + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        await apply_all(planned, project.directory, versions=_planned(project))
        assert await fetch(planned, data) == await fetch(naive, data)

    run(scenario())


def test_an_update_from_the_same_table_is_still_refused(tmp_path: Path) -> None:
    project = Project.create(tmp_path, ARCHIVE)
    with pytest.raises(CannotPlan, match=r"reads public\.orders|reads orders"):
        project.plan("UPDATE orders SET total = o.total FROM public.orders o WHERE o.id = 1;\n")


@pytest.mark.parametrize("when", ["ALWAYS", "BY DEFAULT"])
def test_an_identity_key_is_widened_with_its_identity_carried_over(
    when: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 9: the README's own example on an identity key. Old code inserts during
    the transition, new code after the contract: the ids continue from the same
    sequence (its name and options kept, its type bigint as the naive ALTER makes it)."""
    base = (
        f"CREATE TABLE users (id int GENERATED {when} AS IDENTITY (CACHE 1) PRIMARY KEY, "
        "email text NOT NULL);\n"
    )
    project = Project.create(tmp_path, base)
    result = project.plan("ALTER TABLE users ALTER COLUMN id TYPE bigint;\n")
    assert [c.recipe for c in result.plan.changes] == ["change column type"]
    naive, planned = other_database_url, database_url
    seed = "INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 250) g"
    insert = "INSERT INTO users (email) VALUES ('{}')"
    data = "SELECT id, email FROM users ORDER BY id"
    sequence = (
        "SELECT pg_get_serial_sequence('users', 'id'), seqtypid::regtype::text, seqstart, "
        "seqincrement, seqmax, seqmin, seqcache, seqcycle FROM pg_sequence "
        "WHERE seqrelid = pg_get_serial_sequence('users', 'id')::regclass"
    )

    async def scenario() -> None:
        await execute(naive, base + seed)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        phases = _phase_versions(project)
        for phase in ("expand", "backfill", "contract"):
            await execute(naive, insert.format(f"old before {phase}"))
            await execute(planned, insert.format(f"old before {phase}"))
            await apply_all(planned, project.directory, versions=phases[phase])
        await execute(naive, "ALTER TABLE users ALTER COLUMN id TYPE bigint")
        for dsn in (naive, planned):
            await execute(dsn, insert.format("new"))
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await fetch(planned, sequence) == await fetch(naive, sequence)
        assert await schema_difference(naive, planned, set()) == []
        assert await leftovers(planned) == []

    run(scenario())


def test_an_index_on_a_partitioned_table_is_refused(tmp_path: Path) -> None:
    """plandiff F14: PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned
    table (0A000), so the planned migration would fail: refused, with the by-hand way."""
    project = Project.create(
        tmp_path,
        "CREATE TABLE measurements (id int, value int) PARTITION BY RANGE (id);\n"
        "CREATE TABLE measurements_1 PARTITION OF measurements FOR VALUES FROM (0) TO (100);\n",
    )
    with pytest.raises(CannotPlan, match="is a partitioned table"):
        project.plan("CREATE INDEX measurements_value_idx ON measurements (value);\n")


ROWS = """
CREATE TABLE a (id serial PRIMARY KEY, c bigint, d bigint, qty int NOT NULL DEFAULT 0);
CREATE TABLE b (id serial PRIMARY KEY, v numeric(8, 2));
"""

ROWS_SEED = """
INSERT INTO a (c, d, qty)
SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE g END, g, g % 40 FROM generate_series(1, 200) g;
INSERT INTO b (v) SELECT g * 1.25 FROM generate_series(1, 150) g;
"""

ROWS_DATA = (
    "SELECT 'a', id, c::text, d::text, qty::text FROM a "
    "UNION ALL SELECT 'b', id, v::text, NULL, NULL FROM b ORDER BY 1, 2"
)


async def _seed_rows(
    naive: str, planned: str, project: Project, change: str, sqlstate: str
) -> None:
    """ROWS with their seed on both databases (the planned one through its migration
    001); the naive ``change`` fails there with ``sqlstate``, changing nothing."""
    await execute(naive, ROWS + ROWS_SEED)
    assert await naive_error(naive, change) == sqlstate
    await apply_all(planned, project.directory, versions={1})
    await execute(planned, ROWS_SEED)


@pytest.mark.parametrize(
    ("change", "sqlstate"),
    [
        # F17: rows the UPDATE leaves NULL
        (
            "UPDATE a SET c = 5 WHERE id % 3 = 0;\nALTER TABLE a ALTER COLUMN c SET NOT NULL;\n",
            "23502",
        ),
        # F17, second form: the data change is on another table
        (
            "UPDATE b SET v = 5 WHERE id % 3 = 0;\nALTER TABLE a ALTER COLUMN c SET NOT NULL;\n",
            "23502",
        ),
        # a check the file adds, which the changed rows break
        (
            "ALTER TABLE a ADD CONSTRAINT a_qty_check CHECK (qty >= 0);\n"
            "UPDATE a SET qty = qty - 30 WHERE id % 7 = 0;\n",
            "23514",
        ),
        # (a data change under a unique index the file adds first, of the column it sets,
        # is refused: tests/plan/test_update_of_a_unique_column.py)
        # ... and under a NOT NULL the file sets first
        (
            "ALTER TABLE a ALTER COLUMN d SET NOT NULL;\nUPDATE a SET d = NULL WHERE id % 9 = 0;\n",
            "23502",
        ),
    ],
)
def test_a_data_change_is_not_run_when_a_later_step_fails_on_its_rows(
    change: str, sqlstate: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """F17: the naive file fails as a whole and changes nothing; the plan checks the rows
    as its data changes will leave them before the first one runs, and fails there with
    the naive statement's SQLSTATE: every row as it was."""
    project = Project.create(tmp_path, ROWS)
    result = project.plan(change)
    recipes = [c.recipe for c in result.plan.changes]
    assert recipes[0] == "check rows before data changes" or (
        "check rows before data changes" in recipes
    )
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await _seed_rows(naive, planned, project, change, sqlstate)
        phases = _phase_versions(project)
        if recipes[0] == "check rows before the plan commits":
            # the check constraint the file adds commits in the expand, before the data
            # change: the rows are checked first of all (F36), nothing commits
            with pytest.raises(MigrationFailed, match=f"nothing was changed.*{sqlstate}"):
                await apply_all(planned, project.directory, versions=phases["expand"])
            assert await fetch(planned, ROWS_DATA) == await fetch(naive, ROWS_DATA)
            return
        await apply_all(planned, project.directory, versions=phases.get("expand", set()))
        conn = await asyncpg.connect(planned)
        try:
            check = next(
                v.rendered.up
                for v in result.versions
                if v.rendered.migration.slot.name == "BACKFILL_CHECK"
            )
            with pytest.raises(asyncpg.PostgresError) as failed:
                await conn.execute(check)
            assert failed.value.sqlstate == sqlstate
        finally:
            await conn.close()
        with pytest.raises(MigrationFailed, match="nothing was changed"):
            await apply_all(planned, project.directory, versions=phases["backfill"])
        assert await fetch(planned, ROWS_DATA) == await fetch(naive, ROWS_DATA)

    run(scenario())


def test_rows_that_satisfy_the_later_step_are_changed_as_the_naive_file_changes_them(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """The check passes when the data change fixes every row (``UPDATE ... WHERE c IS
    NULL; SET NOT NULL``): the plan then runs to the end with the naive file's rows."""
    change = "UPDATE a SET c = 0 WHERE c IS NULL;\nALTER TABLE a ALTER COLUMN c SET NOT NULL;\n"
    project = Project.create(tmp_path, ROWS)
    project.plan(change)
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, ROWS + ROWS_SEED + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, ROWS_SEED)
        await apply_all(planned, project.directory, versions=_planned(project))
        assert await fetch(planned, ROWS_DATA) == await fetch(naive, ROWS_DATA)
        assert await schema_difference(naive, planned, set()) == []
        assert await leftovers(planned) == []

    run(scenario())


DEFAULTED = "CREATE TABLE b (id serial PRIMARY KEY, v numeric(8, 2) DEFAULT 1.5, w int);\n"
DEFAULTED_SEED = """
INSERT INTO b (v, w) SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE g * 1.25 END, g
FROM generate_series(1, 300) g;
"""


def test_a_data_change_runs_before_the_deploy_that_follows_it(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """F18: the naive file runs, then the new code writes. The plan's batched UPDATE
    runs before the deploy point it prints, so what the new code writes after the
    deploy is not overwritten by a later batch."""
    change = "UPDATE b SET v = 1.5 WHERE id % 3 = 0;\nALTER TABLE b ALTER COLUMN v SET NOT NULL;\n"
    project = Project.create(tmp_path, DEFAULTED)
    result = project.plan(change, batch_size=20)
    deploy = next(i for i, v in enumerate(result.versions) if v.rendered.migration.deploy_before)
    before = {int(v.version_text) for v in result.versions[:deploy]}
    after = {int(v.version_text) for v in result.versions[deploy:]}
    update = next(
        int(v.version_text) for v in result.versions if "UPDATE b SET v = 1.5" in v.rendered.up
    )
    assert update in before
    new_code = "UPDATE b SET v = 2.5 WHERE id IN (3, 297); INSERT INTO b (v, w) VALUES (4, 1)"
    naive, planned = other_database_url, database_url
    data = "SELECT id, v::text, w FROM b ORDER BY id"

    async def scenario() -> None:
        await execute(naive, DEFAULTED + DEFAULTED_SEED)
        await execute(naive, "UPDATE b SET v = DEFAULT WHERE v IS NULL;\n" + change)
        await execute(naive, new_code)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, DEFAULTED_SEED)
        await apply_all(planned, project.directory, versions=before)
        await execute(planned, new_code)  # the deploy: new code writes from here on
        await apply_all(planned, project.directory, versions=after)
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await fetch(planned, "SELECT v::text FROM b WHERE id = 3") == [("2.50",)]

    run(scenario())


def test_an_update_of_null_rows_runs_after_the_deploy_of_code_that_writes_them(
    tmp_path: Path,
) -> None:
    """``UPDATE t SET c = x WHERE c IS NULL; SET NOT NULL``: the deployed code writes
    ``c`` on every insert and update, so no row it writes is NULL and a batch after
    the deploy overwrites nothing of it; run after the deploy, the batches also fill
    what old code wrote until then (before it, the contract would fail on those)."""
    project = Project.create(tmp_path, DEFAULTED)
    result = project.plan(
        "UPDATE b SET w = 0 WHERE w IS NULL;\nALTER TABLE b ALTER COLUMN w SET NOT NULL;\n"
    )
    first = result.versions[0].rendered.migration
    assert first.phase == "backfill"
    assert "writes w on every insert and update" in first.deploy_before


def test_a_data_change_with_a_deploy_before_the_expand_is_refused(tmp_path: Path) -> None:
    """F18: a DROP NOT NULL needs its deploy before the expand phase; the batches of
    the UPDATE would then run after it, over what the new code writes."""
    project = Project.create(tmp_path, DEFAULTED + "ALTER TABLE b ALTER COLUMN w SET NOT NULL;\n")
    with pytest.raises(CannotPlan, match="must run before the deploy"):
        project.plan(
            "ALTER TABLE b ALTER COLUMN w DROP NOT NULL;\nUPDATE b SET v = 0 WHERE id % 3 = 0;\n"
        )


def test_set_not_null_twice_plans_the_second_as_nothing(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """F19: the same SET NOT NULL twice (the second is a no-op for PostgreSQL), also on a
    table renamed first: one made-up check, the plan runs to the naive file's end."""
    change = (
        "ALTER TABLE b RENAME TO r1;\n"
        "ALTER TABLE r1 ALTER COLUMN v SET NOT NULL;\n"
        "ALTER TABLE r1 ALTER COLUMN v SET NOT NULL;\n"
    )
    project = Project.create(tmp_path, DEFAULTED)
    result = project.plan(change)
    assert [c.recipe for c in result.plan.changes][-1] == "nothing to do"
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, DEFAULTED + DEFAULTED_SEED + "UPDATE b SET v = 1.5 WHERE v IS NULL;")
        await execute(naive, change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, DEFAULTED_SEED)
        await apply_all(planned, project.directory, versions=_planned(project))
        data = "SELECT id, v::text, w FROM r1 ORDER BY id"
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await fetch(
            planned,
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'r1'::regclass AND attname = 'v'",
        ) == [(True,)]
        assert await leftovers(planned) == []

    run(scenario())


def test_drop_view_waits_for_the_deploy_of_code_that_no_longer_reads_it(
    database_url: str, tmp_path: Path
) -> None:
    """F13: ``DROP VIEW`` runs in the contract, after the deploy; until then old code
    reads the view. ``DROP VIEW v; CREATE VIEW v ...`` (the view replaced at once)
    still passes through in one transaction."""
    base = DEFAULTED + "CREATE VIEW b_values AS SELECT id, v FROM b;\n"
    project = Project.create(tmp_path, base)
    result = project.plan("DROP VIEW b_values;\n")
    (only,) = result.versions
    assert only.rendered.migration.phase == "contract"
    assert "no longer reads b_values" in only.rendered.migration.deploy_before
    (tmp_path / "replaced").mkdir()
    replaced = Project.create(tmp_path / "replaced", base).plan(
        "DROP VIEW b_values;\nCREATE VIEW b_values AS SELECT id, v, w FROM b;\n"
    )
    assert replaced.plan.as_written
    assert [v.rendered.migration.phase for v in replaced.versions] == ["expand"]

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, DEFAULTED_SEED)
        assert await fetch(database_url, "SELECT count(*) FROM b_values") == [(300,)]
        await apply_all(database_url, project.directory, versions=_planned(project))
        assert await fetch(
            database_url, "SELECT count(*) FROM pg_views WHERE viewname = 'b_values'"
        ) == [(0,)]

    run(scenario())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            "ALTER TABLE a ADD CONSTRAINT a_b_fkey FOREIGN KEY (d) REFERENCES b (id);\n"
            "DELETE FROM b WHERE id % 3 = 0;\n",  # (an UPDATE of b.id, the walked key: refused)
            "a later data change of the referenced table deletes or changes keys",
        ),
        (
            "UPDATE a SET c = CASE WHEN random() < 0.5 THEN NULL ELSE 1 END WHERE id % 3 = 0;\n"
            "ALTER TABLE a ALTER COLUMN c SET NOT NULL;\n",
            "volatile",
        ),
        (  # a FROM of plain tables is computed (plandiff F56); a subquery is not
            "ALTER TABLE a ALTER COLUMN c SET NOT NULL;\n"
            "UPDATE a SET c = s.id FROM (SELECT id FROM b) AS s WHERE s.id = a.id;\n",
            "it reads what is not a table the migrations create",
        ),
        (
            "DELETE FROM b WHERE id > 100;\nALTER TABLE a ALTER COLUMN c SET NOT NULL;\n"
            "UPDATE a SET c = b.id FROM b WHERE b.id = a.id;\n",
            "it reads public.b, which an earlier data change of the file changes",
        ),
    ],
)
def test_a_later_step_that_cannot_be_checked_before_the_data_change_is_refused(
    change: str, reason: str, tmp_path: Path
) -> None:
    """F17: what the check cannot compute beforehand is refused, with the reason."""
    project = Project.create(tmp_path, ROWS)
    with pytest.raises(CannotPlan, match="cannot check it beforehand") as refused:
        project.plan(change)
    assert reason in refused.value.message
    assert sorted(p.name for p in project.directory.iterdir()) == [
        "001_base.down.sql",
        "001_base.up.sql",
    ]


@pytest.mark.parametrize(
    "first",
    [
        "ALTER TABLE a RENAME COLUMN d TO e;\nALTER TABLE a ALTER COLUMN e",
        "ALTER TABLE a ALTER COLUMN d TYPE numeric;\nALTER TABLE a ALTER COLUMN d",
    ],
)
def test_a_default_of_a_column_renamed_or_retyped_in_the_change_is_refused(
    first: str, tmp_path: Path
) -> None:
    """Found by the generator: after a rename the sync trigger took the new column's
    default over what old code wrote to the old column (values lost); after a type
    change the swap would restore the old default. Refused, with the reason."""
    project = Project.create(tmp_path, ROWS)
    with pytest.raises(CannotPlan, match="renamed or retyped earlier in the change"):
        project.plan(f"{first} SET DEFAULT 5;\n")


CUSTOMERS = """
CREATE TABLE customers (id {key} PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
                     total int);
CREATE TABLE notes (id serial PRIMARY KEY,
                    customer_id int REFERENCES customers ON DELETE CASCADE, body text);
"""

CUSTOMERS_SEED = """
INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 120) g;
INSERT INTO orders (customer_id, total) SELECT 1 + g % 120, g FROM generate_series(1, 300) g;
INSERT INTO notes (customer_id, body) SELECT 1 + g % 120, 'n' || g FROM generate_series(1, 200) g;
"""

#: what the old code writes between migrations: a customer with an order and a note
OLD_WRITES = """
WITH c AS (INSERT INTO customers (name) VALUES ('{0}') RETURNING id)
INSERT INTO orders (customer_id, total) SELECT id, 7 FROM c;
INSERT INTO notes (customer_id, body) SELECT max(id), '{0}' FROM customers;
UPDATE orders SET customer_id = customer_id + 1 WHERE id = 5;
DELETE FROM orders WHERE id = (SELECT min(id) FROM orders);
"""

FOREIGN_KEYS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2
"""


def _rows(dsn: str) -> Any:
    return fetch(
        dsn,
        "SELECT 'c', id, name FROM customers UNION ALL SELECT 'o', id, customer_id::text "
        "FROM orders UNION ALL SELECT 'n', id, customer_id::text FROM notes ORDER BY 1, 2",
    )


async def _run_beside_naive(
    project: Project, naive: str, planned: str, base: str, change: str
) -> None:
    """The base and seed on both; the plan phase by phase with the old code's writes
    before each phase; the naive change at the deploy point; then the new code's."""
    await execute(naive, base + CUSTOMERS_SEED)
    await apply_all(planned, project.directory, versions={1})
    await execute(planned, CUSTOMERS_SEED)
    phases = _phase_versions(project)
    for phase in ("expand", "backfill", "contract"):
        for dsn in (naive, planned):
            await execute(dsn, OLD_WRITES.format(f"old before {phase}"))
        if phase == "contract":
            await execute(naive, change)
        await apply_all(planned, project.directory, versions=phases[phase])
    for dsn in (naive, planned):
        await execute(dsn, OLD_WRITES.format("new"))


@pytest.mark.parametrize(
    "key", ["serial", "int GENERATED ALWAYS AS IDENTITY", "int GENERATED BY DEFAULT AS IDENTITY"]
)
@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE customers ALTER COLUMN id TYPE bigint;\n"
        "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n",
        "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n"
        "ALTER TABLE customers ALTER COLUMN id TYPE bigint;\n",
        "ALTER TABLE customers ALTER COLUMN id TYPE bigint;\n",
    ],
    ids=["key-then-foreign-key", "foreign-key-then-key", "key-only"],
)
def test_a_key_is_widened_with_the_foreign_keys_that_reference_it(
    key: str, change: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Item 9 / plandiff F12: an identity or serial key widened to bigint while other
    tables' foreign keys reference it, with or without their columns in the same file.
    The swaps of the key and of its referencing columns are one transaction; the foreign
    keys end valid, referencing the new column, and enforced (the cascade too); every row
    and the schema end as the naive ALTERs leave them."""
    base = CUSTOMERS.format(key=key)
    project = Project.create(tmp_path, base)
    result = project.plan(change)
    assert {c.recipe for c in result.plan.changes} == {"change column type"}
    swaps = [m for m in result.plan.migrations if m.slot is Slot.CONTRACT_SWAP]
    assert len(swaps) == 1
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await _run_beside_naive(project, naive, planned, base, change)
        assert await _rows(planned) == await _rows(naive)
        assert await fetch(planned, FOREIGN_KEYS) == await fetch(naive, FOREIGN_KEYS)
        assert all(row[3] for row in await fetch(planned, FOREIGN_KEYS))
        assert await schema_difference(naive, planned, set()) == []
        assert await leftovers(planned) == []
        for dsn in (naive, planned):
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await execute(dsn, "INSERT INTO orders (customer_id) VALUES (100000)")
            await execute(dsn, "DELETE FROM orders WHERE customer_id = 50")
            await execute(dsn, "DELETE FROM customers WHERE id = 50")
        assert await _rows(planned) == await _rows(naive)

    run(scenario())


@pytest.mark.parametrize(
    ("base", "change", "reason"),
    [
        (
            "CREATE TABLE nodes (id serial PRIMARY KEY, parent_id int REFERENCES nodes);\n",
            "ALTER TABLE nodes ALTER COLUMN id TYPE bigint;\n",
            "own foreign key nodes_parent_id_fkey references it",
        ),
        (
            "CREATE TABLE customers (id int PRIMARY KEY);\n"
            "CREATE TABLE orders (customer_id int REFERENCES customers);\n",
            "ALTER TABLE customers ALTER COLUMN id TYPE numeric;\n",
            "would compare integer with numeric",
        ),
        (
            "CREATE TABLE customers (id int PRIMARY KEY);\n"
            "CREATE TABLE orders (customer_id int REFERENCES customers);\n",
            "ALTER TABLE customers ALTER COLUMN id TYPE bigint;\n"
            "ALTER TABLE orders ALTER COLUMN customer_id TYPE text;\n",
            "would compare text with bigint",
        ),
        (
            "CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b));\n"
            "CREATE TABLE uses (a int, b int, FOREIGN KEY (a, b) REFERENCES pairs);\n",
            "ALTER TABLE pairs ALTER COLUMN a TYPE bigint;\n",
            "single-column foreign keys only",
        ),
        (
            "CREATE TABLE customers (id int PRIMARY KEY);\n"
            "CREATE TABLE orders (id int, customer_id int REFERENCES customers)"
            " PARTITION BY RANGE (id);\n",
            "ALTER TABLE customers ALTER COLUMN id TYPE bigint;\n",
            "partitioned table public.orders",
        ),
        (
            "CREATE TABLE customers (id int PRIMARY KEY);\n"
            "CREATE TABLE orders (customer_id int REFERENCES customers);\n",
            "ALTER TABLE customers ALTER COLUMN id TYPE bigint;\n"
            "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;\n",
            "drops the foreign key orders_customer_id_fkey of public.orders",
        ),
    ],
    ids=[
        "self-reference",
        "incomparable-type",
        "incomparable-referencing",
        "composite",
        "partitioned",
        "foreign-key-dropped-after",
    ],
)
def test_a_key_whose_foreign_keys_cannot_follow_it_is_refused_with_the_reason(
    base: str, change: str, reason: str, tmp_path: Path
) -> None:
    """Where the foreign keys cannot be added again after the swap the way the naive
    ALTER rebuilds them, the plan is refused up front, naming the foreign key."""
    project = Project.create(tmp_path, base)
    with pytest.raises(CannotPlan, match=reason):
        project.plan(change)


AUTHORS = """
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id serial PRIMARY KEY, author_id int REFERENCES authors (id),
                    title text NOT NULL);
"""


def test_statements_of_two_tables_in_turn_plan_as_one_expand_migration_each(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """plandiff F20: a column with its default and its index on one table, then a
    rename on another. Each table's statements follow each other, so the expand
    migration that locks authors ends before the rename's starts (no statement waits
    under the other table's lock), the index is built concurrently after, and the end
    is the naive SQL's."""
    change = (
        "ALTER TABLE authors ADD COLUMN country text NOT NULL DEFAULT 'unknown';\n"
        "CREATE INDEX authors_country_idx ON authors (country);\n"
        "ALTER TABLE books RENAME COLUMN title TO name;\n"
    )
    project = Project.create(tmp_path, AUTHORS)
    result = project.plan(change)
    expand = [m for m in result.plan.migrations if m.slot is Slot.EXPAND]
    assert [
        sorted({t for s in m.steps for t in ("authors", "books") if t in s.sql}) for m in expand
    ] == [
        ["authors"],
        ["books"],
    ]
    assert result.plan.lock_splits == 1
    naive, planned = other_database_url, database_url
    seed = (
        "INSERT INTO authors (name) SELECT 'a' || g FROM generate_series(1, 30) g;\n"
        "INSERT INTO books (author_id, title) SELECT 1 + g % 30, 'b' || g "
        "FROM generate_series(1, 200) g;\n"
    )
    old = "INSERT INTO authors (name) VALUES ('{0}'); INSERT INTO books (title) VALUES ('{0}')"
    data = (
        "SELECT 'a', id, name || '/' || country FROM authors UNION ALL "
        "SELECT 'b', id, name FROM books ORDER BY 1, 2"
    )

    async def scenario() -> None:
        await execute(naive, AUTHORS + seed)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        phases = _phase_versions(project)
        for phase in ("expand", "backfill", "contract"):
            if phase == "contract":
                await execute(naive, change)
            else:
                await execute(naive, old.format(phase))
                await execute(planned, old.format(phase))
            await apply_all(planned, project.directory, versions=phases[phase])
        assert await fetch(planned, data) == await fetch(naive, data)
        assert await schema_difference(naive, planned, set()) == []
        assert await leftovers(planned) == []

    run(scenario())


DEFAULTS = "SELECT column_name, column_default FROM information_schema.columns ORDER BY 1"


@pytest.mark.parametrize(
    ("change", "sqlstate"),
    [
        (  # (SET DEFAULT then a check validated later is refused: test_moment_changes)
            "ALTER TABLE a ALTER COLUMN qty SET DEFAULT 3;\n"
            "CREATE UNIQUE INDEX a_qty_key ON a (qty);\n",
            "23505",
        ),
        (
            "CREATE UNIQUE INDEX a_qty_key ON a (qty);\n"
            "ALTER TABLE a ALTER COLUMN qty SET DEFAULT 3;\n",
            "23505",
        ),
    ],
)
def test_a_default_is_not_changed_when_a_later_step_fails_on_the_rows(
    change: str, sqlstate: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """plandiff F25: the naive file fails on the existing rows and changes nothing; the
    plan used to commit the default first. Its first expand migration now checks the
    rows before the default changes and fails with the naive SQLSTATE: nothing changed."""
    project = Project.create(tmp_path, ROWS)
    result = project.plan(change)
    assert result.plan.changes[0].recipe == "check rows before the plan commits"
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await _seed_rows(naive, planned, project, change, sqlstate)
        before = await fetch(planned, DEFAULTS)
        phases = _phase_versions(project)
        with pytest.raises(MigrationFailed, match="nothing was changed"):
            await apply_all(planned, project.directory, versions=phases["expand"])
        assert await fetch(planned, DEFAULTS) == before
        assert await fetch(planned, ROWS_DATA) == await fetch(naive, ROWS_DATA)
        assert await schema_difference(naive, planned, set()) == []

    run(scenario())


def test_a_default_change_after_a_deploy_before_the_expand_is_refused(tmp_path: Path) -> None:
    """plandiff F21: DROP NOT NULL needs the deploy before the expand; a default the
    expand changes after it would reach rows inserted in between later than the naive
    file (run at the deploy) gives it to them. Refused, naming both."""
    project = Project.create(tmp_path, ROWS)
    with pytest.raises(CannotPlan, match="needs a deploy before its expand phase") as refused:
        project.plan(
            "ALTER TABLE a ALTER COLUMN qty DROP NOT NULL;\n"
            "ALTER TABLE a ADD COLUMN n numeric(8, 2);\n"
            "ALTER TABLE a ALTER COLUMN n SET DEFAULT 1.5;\n"
        )
    assert "SET DEFAULT 1.5" in refused.value.message
    assert "reads a.qty and handles NULL" in refused.value.message


@pytest.mark.parametrize("default", ["DROP DEFAULT", "SET DEFAULT 7"])
def test_a_default_change_after_an_index_build_keeps_the_file_order(
    default: str, tmp_path: Path
) -> None:
    """A default changed after a concurrent index build on another table commits after
    the build, as in the file (it used to commit first: inserts in between missed the
    default the naive file still gives them); alone it stays in the first expand."""
    project = Project.create(tmp_path, ROWS)
    result = project.plan(
        f"CREATE INDEX b_v_idx ON b (v);\nALTER TABLE a ALTER COLUMN qty {default};\n"
    )
    slots = [m.slot for m in result.plan.migrations]
    assert slots == [Slot.EXPAND_CONCURRENT, Slot.EXPAND_LATE]
    assert default in result.plan.migrations[-1].steps[0].sql
    (tmp_path / "alone").mkdir()
    alone = Project.create(tmp_path / "alone", ROWS).plan(
        f"ALTER TABLE a ALTER COLUMN qty {default};\n"
    )
    assert [m.slot for m in alone.plan.migrations] == [Slot.EXPAND]


def test_the_default_of_a_column_the_file_adds_stays_with_it_after_an_index_build(
    tmp_path: Path,
) -> None:
    """Found by the generator: `CREATE INDEX; ADD COLUMN n; SET DEFAULT` must not move
    the default after the build, away from its column (inserts would get NULL)."""
    project = Project.create(tmp_path, ROWS)
    result = project.plan(
        "CREATE INDEX b_v_idx ON b (v);\nALTER TABLE a ADD COLUMN n bigint;\n"
        "ALTER TABLE a ALTER COLUMN n SET DEFAULT 5;\n"
    )
    expand = [m for m in result.plan.migrations if m.slot is Slot.EXPAND]
    assert len(expand) == 1
    assert [s.sql for s in expand[0].steps][-2:] == [
        "ALTER TABLE a ADD COLUMN n bigint",
        "ALTER TABLE a ALTER COLUMN n SET DEFAULT 5",
    ]


def test_a_rename_is_copied_before_a_later_update_of_the_new_name(tmp_path: Path) -> None:
    """Generator, seed 7301: the UPDATE ran before the rename's copy filled the new
    column (NULL in every row then) and overwrote every row; the planner's backfills run
    in file order among the data changes before the deploy (the proof on PostgreSQL:
    corpus case rename-column-then-update-null-rows)."""
    project = Project.create(tmp_path, "CREATE TABLE a (id serial PRIMARY KEY, c bigint);\n")
    result = project.plan(
        "ALTER TABLE a RENAME COLUMN c TO d;\nUPDATE a SET d = 5 WHERE d IS NULL;\n"
    )
    backfills = [m for m in result.plan.migrations if m.slot is Slot.BACKFILL]
    assert [m.steps[0].sql.splitlines()[0] for m in backfills] == [
        "UPDATE a SET d = c",
        "UPDATE a SET d = 5",
    ]


VIEWED = """
CREATE TABLE a (id serial PRIMARY KEY, a_c0 varchar(20), a_c1 int);
CREATE VIEW a_view AS SELECT id, a_c0 FROM a;
"""


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE a RENAME TO r1;\nALTER TABLE r1 DROP COLUMN a_c0;\n",
        "ALTER TABLE a RENAME TO r1;\nALTER TABLE r1 RENAME COLUMN a_c0 TO x;\n",
        "ALTER TABLE a RENAME TO r1;\nALTER TABLE r1 ALTER COLUMN a_c0 TYPE varchar(2);\n",
    ],
    ids=["rename-table-drop", "rename-table-rename-column", "rename-table-retype"],
)
def test_a_view_is_found_after_its_table_is_renamed(change: str, tmp_path: Path) -> None:
    """plandiff F39: the dependents were kept by the table's old name, so the view on
    ``a`` was missed for ``r1``: the contract failed (2BP01) after the rename's view was
    dropped. Refused as for the table's own name (F10)."""
    project = Project.create(tmp_path, VIEWED)
    with pytest.raises(CannotPlan, match=r"view public\.a_view depends on it"):
        project.plan(change)


def test_a_view_is_found_after_an_earlier_migration_moved_its_table(tmp_path: Path) -> None:
    """F39 for ``SET SCHEMA`` (which the change file itself may no longer do to an
    existing table, F44): the replayed dependents follow the move."""
    project = Project.create(tmp_path, VIEWED + "CREATE SCHEMA s;\nALTER TABLE a SET SCHEMA s;\n")
    with pytest.raises(CannotPlan, match=r"view public\.a_view depends on it"):
        project.plan("ALTER TABLE s.a DROP COLUMN a_c0;\n")


def test_a_view_is_found_after_its_column_is_renamed(tmp_path: Path) -> None:
    """The view follows a column rename (PostgreSQL's does): dropping the renamed column
    of an earlier migration is refused too."""
    project = Project.create(tmp_path, VIEWED + "ALTER TABLE a RENAME COLUMN a_c0 TO b;\n")
    with pytest.raises(CannotPlan, match=r"view public\.a_view depends on it"):
        project.plan("ALTER TABLE a DROP COLUMN b;\n")
