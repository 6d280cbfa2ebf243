"""Regressions of issue 14: each change runs as the naive SQL on one database and as
the plan, phase by phase through the runner, on another. The plan either ends with the
naive SQL's rows, or fails where the naive SQL fails with nothing destroyed, or is
refused with a precise reason."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from migrator.errors import MigrationFailed
from tests.plan.scenario import Project, apply_all, execute, fetch, leftovers, run

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


async def _naive_error(dsn: str, sql: str) -> str | None:
    """The SQLSTATE the naive SQL fails with (in one transaction), or None."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(sql)
    except asyncpg.PostgresError as error:
        return str(error.sqlstate)
    finally:
        await conn.close()
    return None


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
        assert await _naive_error(naive, change) == "22001"
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
        assert await _naive_error(database_url, "ALTER TABLE orders ALTER COLUMN note TYPE integer")
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
