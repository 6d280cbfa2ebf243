"""Every supported change, planned and applied through the runner to a database with
rows, ends in the same schema as the naive SQL, keeps the data, and leaves no trigger,
function, temporary column or constraint, or INVALID index behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from tests.plan.scenario import (
    Project,
    apply_all,
    execute,
    fetch,
    leftovers,
    revert,
    run,
    schema_difference,
)

BASE = """
CREATE TABLE parents (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE items (
    id serial PRIMARY KEY,
    parent_id bigint,
    email varchar(100) NOT NULL,
    qty int NOT NULL DEFAULT 0 CHECK (qty >= 0),
    note text,
    status text DEFAULT 'new'
);
CREATE INDEX items_email_lower_idx ON items (lower(email));
CREATE UNIQUE INDEX items_email_key ON items (email);
CREATE INDEX items_note_idx ON items (note);
CREATE TABLE events (id bigint, body text);
CREATE TYPE mood AS ENUM ('sad', 'ok');
"""

SEED = """
INSERT INTO parents (name) SELECT 'p' || g FROM generate_series(1, 10) g;
INSERT INTO items (parent_id, email, qty, note, status)
SELECT 1 + g % 10, 'user' || g || '@example.com', g % 7,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'old' END
FROM generate_series(1, 2500) g;
INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 1200) g;
"""


@dataclass(frozen=True)
class Case:
    id: str
    change: str
    #: what the case reads from both databases to prove the data is preserved
    data: str
    #: SQL the application (or a person) runs before the contract phase, and before the
    #: naive SQL (a NOT NULL without default needs values only they know)
    fill: str = ""
    #: schema objects only the plan has, on purpose: (kind, name)
    planned_extra: set[tuple[str, str]] = field(default_factory=set)
    #: recipes the plan must use (proves the case is planned, not passed through):
    #: one, or one per subcommand of the change
    recipe: str | tuple[str, ...] = ""
    migrations: int | None = None
    #: what the naive run does instead of ``fill`` + ``change`` (when the naive SQL
    #: alone fails on a table with rows, as PostgreSQL makes it)
    naive: str | None = None


CASES = [
    Case(
        "add-column-not-null-constant-default",
        "ALTER TABLE items ADD COLUMN flag int NOT NULL DEFAULT 0",
        "SELECT id, flag FROM items ORDER BY id",
        recipe="pass through",
        migrations=1,
    ),
    Case(
        "add-column-not-null-volatile-default",
        "ALTER TABLE items ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()",
        "SELECT count(*), count(token), count(DISTINCT token) FROM items",
        recipe="add column (filled in batches)",
    ),
    Case(
        "add-column-not-null-no-default",
        "ALTER TABLE items ADD COLUMN code text NOT NULL",
        "SELECT id, code FROM items ORDER BY id",
        fill="UPDATE items SET code = 'c' || id WHERE code IS NULL",
        recipe="add NOT NULL column",
        naive="ALTER TABLE items ADD COLUMN code text; UPDATE items SET code = 'c' || id; "
        "ALTER TABLE items ALTER COLUMN code SET NOT NULL",
    ),
    Case(
        "set-not-null-with-default",
        "ALTER TABLE items ALTER COLUMN status SET NOT NULL",
        "SELECT id, status FROM items ORDER BY id",
        recipe="set NOT NULL",
        naive="UPDATE items SET status = DEFAULT WHERE status IS NULL; "
        "ALTER TABLE items ALTER COLUMN status SET NOT NULL",
    ),
    Case(
        "set-not-null-without-default",
        "ALTER TABLE items ALTER COLUMN note SET NOT NULL",
        "SELECT id, note FROM items ORDER BY id",
        fill="UPDATE items SET note = '' WHERE note IS NULL",
        recipe="set NOT NULL",
    ),
    Case(
        "add-foreign-key",
        "ALTER TABLE items ADD FOREIGN KEY (parent_id) REFERENCES parents (id)",
        "SELECT id, parent_id FROM items ORDER BY id",
        planned_extra={("index", "public.items_parent_id_idx")},
        recipe="add foreign key",
    ),
    Case(
        "add-check",
        "ALTER TABLE items ADD CONSTRAINT qty_small CHECK (qty < 1000000)",
        "SELECT id, qty FROM items ORDER BY id",
        recipe="add check",
    ),
    Case(
        "add-unique",
        "ALTER TABLE items ADD UNIQUE (note)",
        "SELECT id, note FROM items ORDER BY id",
        recipe="add unique",
    ),
    Case(
        "add-primary-key",
        "ALTER TABLE events ADD PRIMARY KEY (id)",
        "SELECT id, body FROM events ORDER BY id",
        recipe="add primary key",
    ),
    Case(
        "create-index",
        "CREATE INDEX ON items (qty)",
        "SELECT count(*) FROM items",
        recipe="create index concurrently",
        migrations=1,
    ),
    Case(
        "drop-index",
        "DROP INDEX items_email_lower_idx",
        "SELECT count(*) FROM items",
        recipe="drop index concurrently",
        migrations=1,
    ),
    Case(
        "rename-column",
        "ALTER TABLE items RENAME COLUMN email TO email_address",
        "SELECT id, email_address FROM items ORDER BY id",
        recipe="rename column",
    ),
    Case(
        "rename-table",
        "ALTER TABLE parents RENAME TO owners",
        "SELECT id, name FROM owners ORDER BY id",
        recipe="rename table",
    ),
    Case(
        "change-type-of-serial-primary-key",
        "ALTER TABLE items ALTER COLUMN id TYPE bigint",
        "SELECT id, email FROM items ORDER BY id",
        recipe="change column type",
    ),
    Case(
        "change-type-with-check-and-using",
        "ALTER TABLE items ALTER COLUMN qty TYPE numeric(12, 2) USING qty::numeric(12, 2)",
        "SELECT id, qty FROM items ORDER BY id",
        recipe="change column type",
    ),
    Case(
        "change-type-binary-coercible",
        "ALTER TABLE items ALTER COLUMN email TYPE varchar(200)",
        "SELECT id, email FROM items ORDER BY id",
        recipe="pass through",
        migrations=1,
    ),
    Case(
        "drop-column",
        "ALTER TABLE items DROP COLUMN note",
        "SELECT id, email FROM items ORDER BY id",
        recipe="drop column",
    ),
    Case(
        "drop-not-null-column",
        "ALTER TABLE items DROP COLUMN email",
        "SELECT id, qty FROM items ORDER BY id",
        recipe="drop column",
    ),
    Case(
        "drop-and-add-column-again",
        "ALTER TABLE items DROP COLUMN status, ADD COLUMN status boolean DEFAULT false NOT NULL",
        "SELECT id, status FROM items ORDER BY id",
        recipe="pass through",  # a reset, one statement as written (F-hostile-10)
        migrations=1,
    ),
    Case(
        "move-primary-key-off-a-serial-column",
        "ALTER TABLE items DROP COLUMN id, ADD PRIMARY KEY (email)",
        "SELECT email, qty FROM items ORDER BY email",
        recipe=("drop column", "add primary key"),
    ),
    Case(
        "update-as-a-batched-backfill",
        "UPDATE items SET status = 'new', qty = qty + 1 WHERE status IS NULL",
        "SELECT id, status, qty FROM items ORDER BY id",
        # the rows it leaves are checked against CHECK (qty >= 0) first
        recipe=("check rows before data changes", "batched backfill"),
        migrations=2,
    ),
    Case(
        "additions-to-two-tables-commit-one-by-one",
        "ALTER TABLE items ADD COLUMN flag int NOT NULL DEFAULT 0;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n"
        "CREATE VIEW item_flags AS SELECT id, flag FROM items",
        "SELECT id, flag FROM items ORDER BY id",
        recipe=("pass through", "pass through", "pass through"),
        migrations=3,
    ),
    Case(
        "index-rebuilt-under-its-own-name",
        "DROP INDEX items_note_idx;\nCREATE INDEX items_note_idx ON items (note, id)",
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'items_note_idx'",
        recipe=(
            "drop index concurrently",
            "create index concurrently under another name, then rename",
        ),
        migrations=3,
    ),
    Case(
        "drop-table-in-the-contract",
        "DROP TABLE events",
        "SELECT count(*) FROM pg_tables WHERE tablename = 'events'",
        recipe="drop table",
        migrations=1,
    ),
    Case(
        "update-from-as-a-batched-backfill",
        "UPDATE items i SET note = p.name FROM parents p WHERE p.id = i.parent_id",
        "SELECT id, note FROM items ORDER BY id",
        recipe="batched backfill",
        migrations=1,
    ),
    Case(
        "delete-as-a-batched-delete",
        "DELETE FROM items WHERE qty = 0",
        "SELECT id, qty FROM items ORDER BY id",
        recipe="batched delete",
        migrations=1,
    ),
    Case(
        "drop-not-null-after-the-readers",
        "ALTER TABLE items ALTER COLUMN email DROP NOT NULL",
        "SELECT is_nullable FROM information_schema.columns "
        "WHERE table_name = 'items' AND column_name = 'email'",
        recipe="drop not null",
        migrations=1,
    ),
    Case(
        "reindex-concurrently",
        "REINDEX TABLE items",
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'items'::regclass ORDER BY 1",
        recipe="reindex concurrently",
        migrations=1,
    ),
    Case(
        "add-enum-value",
        "ALTER TYPE mood ADD VALUE 'happy' AFTER 'ok'",
        "SELECT enum_range(NULL::mood)::text",
        recipe="add enum value",
        migrations=1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_plan_ends_like_the_naive_sql_with_data_kept_and_nothing_left(
    case: Case, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(case.change + ";\n")
    recipes = [case.recipe] if isinstance(case.recipe, str) else list(case.recipe)
    assert [c.recipe for c in result.plan.changes] == recipes
    if case.migrations is not None:
        assert len(result.versions) == case.migrations

    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, BASE + SEED)
        if case.naive is not None:
            await execute(naive, case.naive)
        else:
            if case.fill:
                await execute(naive, case.fill)
            await execute(naive, case.change)

        await apply_all(planned, project.directory, versions={1})
        await execute(planned, SEED)

        async def before_phase(phase: str) -> None:
            if phase == "contract" and case.fill:
                await execute(planned, case.fill)

        planned_versions = {int(v.version_text) for v in result.versions}
        await apply_all(
            planned, project.directory, versions=planned_versions, before_phase=before_phase
        )

        assert await schema_difference(naive, planned, case.planned_extra) == []
        if "token" in case.data:  # volatile values differ between runs; compare counts
            assert await fetch(planned, case.data) == [(2500, 2500, 2500)]
        else:
            assert await fetch(planned, case.data) == await fetch(naive, case.data)
        assert await leftovers(planned) == []

    run(scenario())


def test_writes_during_the_transition_reach_both_columns(database_url: str, tmp_path: Path) -> None:
    """Between expand and contract, old code writes the old column and new code the new
    one; the sync trigger keeps them equal either way."""
    project = Project.create(tmp_path, BASE)
    result = project.plan("ALTER TABLE items RENAME COLUMN email TO email_address;\n")
    versions = [int(v.version_text) for v in result.versions]
    expand = {
        v
        for v, r in zip(versions, result.versions, strict=True)
        if r.rendered.migration.phase != "contract"
    }

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, SEED)
        await apply_all(database_url, project.directory, versions=expand)
        await execute(
            database_url,
            "INSERT INTO items (email) VALUES ('old@app');"
            "INSERT INTO items (email_address, email) VALUES ('new@app', 'ignored@x');"
            "UPDATE items SET email = 'changed-by-old@app' WHERE id = 1;"
            "UPDATE items SET email_address = 'changed-by-new@app' WHERE id = 2;",
        )
        rows = await fetch(
            database_url,
            "SELECT email, email_address FROM items WHERE id IN (1, 2) OR email LIKE '%@app' "
            "ORDER BY id",
        )
        assert all(old == new for old, new in rows), rows
        assert ("new@app", "new@app") in rows and ("old@app", "old@app") in rows
        assert await fetch(
            database_url, "SELECT count(*) FROM items WHERE email IS DISTINCT FROM email_address"
        ) == [(0,)]

    run(scenario())


def test_contract_fails_safely_while_rows_are_still_null(database_url: str, tmp_path: Path) -> None:
    """NOT NULL without a default: the contract's VALIDATE refuses while rows are NULL,
    and the table is unchanged (still nullable, still usable)."""
    from migrator.errors import MigrationFailed

    project = Project.create(tmp_path, BASE)
    project.plan("ALTER TABLE items ALTER COLUMN note SET NOT NULL;\n")

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, SEED)
        with pytest.raises(MigrationFailed, match="violated"):
            await apply_all(database_url, project.directory, versions={2, 3, 4})
        assert await fetch(
            database_url,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'items' AND column_name = 'note'",
        ) == [("YES",)]

    run(scenario())


def test_a_down_that_failed_halfway_stops_at_the_invalid_index_then_completes(
    database_url: str, tmp_path: Path
) -> None:
    """The down of a planned DROP COLUMN rebuilds its indexes concurrently. When a build
    fails (rows written since break the unique index), run again it must not keep the
    INVALID index (``IF NOT EXISTS`` skips it): it stops and says what to drop; once
    dropped, the down completes with valid indexes."""
    from migrator.errors import MigrationFailed

    project = Project.create(tmp_path, BASE)
    result = project.plan("ALTER TABLE items DROP COLUMN email;\n")
    labels = {int(v.version_text): v.rendered.migration.name for v in result.versions}
    (drop_indexes,) = [v for v, name in labels.items() if name.endswith("drop_indexes")]

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, SEED)
        await apply_all(database_url, project.directory, versions=set(range(2, drop_indexes + 1)))
        await execute(database_url, "INSERT INTO items (email) VALUES ('twice@x'), ('twice@x')")
        with pytest.raises(MigrationFailed, match="could not create unique index"):
            await revert(database_url, project.directory, drop_indexes)
        assert await leftovers(database_url) == ["invalid index items_email_key"]
        await execute(database_url, "DELETE FROM items WHERE id = (SELECT max(id) FROM items)")

        with pytest.raises(  # the runner stops at the build (the plan's check would too)
            MigrationFailed,
            match=r"index items_email_key already existed INVALID .*skipped the build",
        ):
            await revert(database_url, project.directory, drop_indexes)
        await execute(database_url, "DROP INDEX CONCURRENTLY items_email_key")
        await revert(database_url, project.directory, drop_indexes)

        assert await leftovers(database_url) == []
        assert await fetch(
            database_url,
            "SELECT indexrelid::regclass::text, indisunique FROM pg_index "
            "WHERE indrelid = 'items'::regclass ORDER BY 1",
        ) == [
            ("items_email_key", True),
            ("items_email_lower_idx", False),
            ("items_note_idx", False),
            ("items_pkey", True),
        ]

    run(scenario())


def test_a_key_moved_to_a_unique_column_keeps_it_unique_throughout(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """lemmy's ``DROP COLUMN id, ADD PRIMARY KEY (uuid), DROP CONSTRAINT t_uuid_key``:
    after the expand phase old code still inserts with ``id`` and ``uuid`` stays unique;
    after the contract the schema is the naive SQL's; the downs of the key and of the
    dropped unique constraint put both back as they were."""
    from migrator.errors import RefusedState

    base = "CREATE TABLE t (id serial PRIMARY KEY, uuid uuid UNIQUE NOT NULL, score int);\n"
    seed = "INSERT INTO t (uuid, score) SELECT gen_random_uuid(), g FROM generate_series(1, 500) g"
    change = "ALTER TABLE t DROP COLUMN id, ADD PRIMARY KEY (uuid), DROP CONSTRAINT t_uuid_key;\n"
    project = Project.create(tmp_path, base)
    result = project.plan(change)
    versions = [int(v.version_text) for v in result.versions]
    expand = {
        v
        for v, planned in zip(versions, result.versions, strict=True)
        if planned.rendered.migration.phase == "expand"
    }
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, base + seed + ";" + change)
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        await apply_all(planned, project.directory, versions=expand)
        await execute(planned, "INSERT INTO t (id, uuid) VALUES (9999, gen_random_uuid())")
        with pytest.raises(Exception, match="duplicate key"):
            await execute(planned, "INSERT INTO t (uuid) SELECT uuid FROM t LIMIT 1")

        await apply_all(planned, project.directory, versions=set(versions) - expand)
        await execute(naive, "INSERT INTO t (uuid) VALUES (gen_random_uuid())")
        assert await schema_difference(naive, planned, set()) == []
        assert await leftovers(planned) == []

        await revert(planned, project.directory, versions[-1])
        await revert(planned, project.directory, versions[-2])
        assert await fetch(
            planned,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 't'::regclass ORDER BY 1",
        ) == [("t_uuid_key", "UNIQUE (uuid)")]
        assert await fetch(
            planned,
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = 't'::regclass ORDER BY 1",
        ) == [("t_pkey_new",), ("t_uuid_key",)]
        with pytest.raises(RefusedState, match="up-only"):  # dropping id cannot be undone
            await revert(planned, project.directory, versions[-3])

    run(scenario())


def test_renaming_an_index_takes_share_update_exclusive_only(database_url: str) -> None:
    """The contract step of an index rebuilt under its own name renames it: on
    PostgreSQL 12+ that locks the index SHARE UPDATE EXCLUSIVE, and the table not at
    all, so it goes through while a client writes the table."""

    async def scenario() -> None:
        await execute(database_url, BASE + "CREATE INDEX items_note_new ON items (note, id);")
        writer = await asyncpg.connect(database_url)
        renamer = await asyncpg.connect(database_url)
        try:
            await writer.execute("BEGIN; INSERT INTO items (email) VALUES ('w@x')")
            async with renamer.transaction():
                await renamer.execute("SET LOCAL lock_timeout = '1s'")
                await renamer.execute("ALTER INDEX items_note_new RENAME TO items_note_renamed")
                locks = await renamer.fetch(
                    "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = "
                    "l.relation WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'items%'"
                )
            assert {(row["relname"], row["mode"]) for row in locks} == {
                ("items_note_renamed", "ShareUpdateExclusiveLock")
            }
        finally:
            await writer.close()
            await renamer.close()

    run(scenario())
