"""Planning without a database: what each recipe refuses and why, what passes through
unchanged, the order of the written migrations, and their directives."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from migrator.plan.planner import next_versions
from migrator.source import discover
from tests.plan.scenario import Project
from tests.plan.test_plans_on_postgres import BASE

EXTRA = """
CREATE TABLE logs (msg text);
CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner int);
CREATE TABLE children (id bigint PRIMARY KEY, parent_id bigint REFERENCES parents (id));
CREATE TABLE slots (id int PRIMARY KEY, during tstzrange);
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.create(tmp_path, BASE + EXTRA)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            "ALTER TABLE slots ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&)",
            "exclusion constraint",
        ),
        (
            "ALTER TABLE logs ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()",
            "no single-column primary key or unique NOT NULL column",
        ),
        ("ALTER TABLE nowhere RENAME COLUMN a TO b", "not created by any earlier migration"),
        ("ALTER TABLE items ADD COLUMN n int GENERATED ALWAYS AS IDENTITY", "identity column"),
        ("ALTER TABLE items ADD COLUMN n bigserial", "sequence"),
        ("ALTER TABLE parents RENAME COLUMN id TO parent_key", "foreign keys of other tables"),
        ("ALTER TABLE parents ALTER COLUMN id TYPE numeric", "would compare bigint with numeric"),
        ("ALTER TABLE accounts ALTER COLUMN id TYPE numeric", "identity column .* is smallint"),
        ("ALTER TABLE accounts RENAME COLUMN id TO key", "it is an identity column"),
        ("ALTER TABLE parents DROP COLUMN id", "referenced by foreign keys"),
        ("DROP INDEX items_email_key CASCADE", "cannot run CONCURRENTLY"),
        ("DROP INDEX items_pkey", "belongs to constraint items_pkey"),
        ("ALTER TABLE items RENAME COLUMN nope TO b", "does not exist"),
        ("BEGIN; ALTER TABLE items ALTER COLUMN note SET NOT NULL; COMMIT", "BEGIN"),
        ("ALTER TABLE items ADD COLUMN x int NOT NULL DEFAULT random(", "syntax error"),
    ],
)
def test_what_cannot_be_made_safe_is_refused_with_the_reason(
    project: Project, change: str, reason: str
) -> None:
    with pytest.raises(CannotPlan, match=reason):
        project.plan(change)
    assert sorted(p.name for p in project.directory.iterdir()) == [
        "001_base.down.sql",
        "001_base.up.sql",
    ]


def test_safe_statements_pass_through_unchanged_as_one_migration(project: Project) -> None:
    change = (
        "CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL);\n"
        "ALTER TABLE tags ADD COLUMN slug text NOT NULL;\n"
        "CREATE INDEX tags_name_idx ON tags (name);\n"
        "ALTER TABLE items ADD COLUMN note2 text;\n"
    )
    result = project.plan(change)
    assert result.plan.all_safe_already
    (version,) = result.versions
    assert [f.path.name for f in version.files] == ["002_change.up.sql", "002_change.down.sql"]
    text = version.files[0].text
    for statement in change.strip().split("\n"):
        assert statement in text
    down = version.files[1].text
    undo = [line for line in down.splitlines() if line and not line.startswith("--")]
    assert undo == [
        "ALTER TABLE items DROP COLUMN IF EXISTS note2;",
        "DROP INDEX IF EXISTS tags_name_idx;",
        "ALTER TABLE tags DROP COLUMN IF EXISTS slug;",
        "DROP TABLE IF EXISTS tags;",
    ]


def test_changes_to_a_table_created_in_the_same_file_pass_through(project: Project) -> None:
    result = project.plan(
        "CREATE TABLE fresh (id int PRIMARY KEY, a int);\n"
        "ALTER TABLE fresh RENAME COLUMN a TO b;\n"
        "ALTER TABLE fresh ALTER COLUMN b TYPE bigint;\n"
        "ALTER TABLE fresh ALTER COLUMN b SET NOT NULL;\n"
    )
    assert {c.recipe for c in result.plan.changes} == {"pass through"}


def test_statement_order_survives_a_non_transactional_pass_through(project: Project) -> None:
    result = project.plan(
        "CREATE UNIQUE INDEX CONCURRENTLY items_note_key ON items (note);\n"
        "ALTER TABLE items ADD CONSTRAINT items_note_key UNIQUE USING INDEX items_note_key;\n"
    )
    phases = [
        (v.rendered.migration.mode, v.rendered.migration.steps[0].sql) for v in result.versions
    ]
    assert [mode for mode, _ in phases] == ["no-transaction", "transaction"]
    assert "USING INDEX" in phases[1][1]


def test_each_file_carries_phase_directives_and_the_next_deploy(project: Project) -> None:
    result = project.plan("ALTER TABLE items RENAME COLUMN email TO email_address;\n")
    texts = [(v.rendered.migration, v.files[0].text) for v in result.versions]
    assert [m.phase for m, _ in texts] == [
        "expand",
        "expand",
        "backfill",
        "contract",
        "contract",
    ]
    for migration, text in texts:
        assert text.startswith(f"-- migrate:phase {migration.phase}\n")
        assert ("-- migrate:no-transaction" in text) == (migration.mode == "no-transaction")
        assert "-- migrate:lock-timeout" in text
    backfill = texts[2][1]
    assert "-- migrate:backfill table=items key=id batch-size=1000" in backfill
    assert (
        "Before the next phase (contract) runs, deploy: application code that reads and "
        in backfill
    )
    expand = texts[0][1]
    # the column and its trigger in one transaction (pgroll #905)
    assert expand.index("ADD COLUMN email_address") < expand.index("CREATE TRIGGER")
    # the swap is one short transaction, up-only (irreversible)
    assert [f.path.name for f in result.versions[-1].files] == ["006_change_contract.sql"]
    assert "DROP COLUMN email" in texts[-1][1]
    # every written file parses as a runnable migration
    migration_set = discover(project.directory)
    assert not migration_set.problems
    assert migration_set.file_problems() == []


def test_type_change_copies_with_the_using_expression(project: Project) -> None:
    result = project.plan("ALTER TABLE items ALTER COLUMN qty TYPE bigint USING qty::bigint;\n")
    by_phase = {v.rendered.migration.phase: v.files[0].text for v in reversed(result.versions)}
    expand, backfill = by_phase["expand"], by_phase["backfill"]
    assert "NEW.qty_new := CAST(new.qty AS bigint);" in expand
    assert "SET qty_new = CAST(qty AS bigint)" in backfill
    assert "qty_new IS DISTINCT FROM CAST((CAST(qty AS bigint)) AS bigint)" in backfill


@pytest.mark.parametrize("using", ["qty * 100", "qty::numeric * 1.5", "0", "id"])
def test_a_using_that_changes_values_is_refused(project: Project, using: str) -> None:
    """plandiff F16: new code deployed before the contract writes new values into the
    old column, and the trigger converts them again (6 became 9.00); after the
    contract, old code would write old values into the new column."""
    with pytest.raises(CannotPlan, match="the USING expression changes the values"):
        project.plan(f"ALTER TABLE items ALTER COLUMN qty TYPE numeric USING {using};\n")


def test_binary_coercible_type_changes_pass_through(project: Project) -> None:
    for change in (
        "ALTER TABLE items ALTER COLUMN email TYPE text",
        "ALTER TABLE items ALTER COLUMN email TYPE varchar(255)",
    ):
        (only,) = project.plan(change).plan.changes
        assert only.recipe == "pass through"
        for planned in project.results[-1].files:
            planned.path.unlink()


def test_narrowing_a_varchar_is_planned(project: Project) -> None:
    (only,) = project.plan("ALTER TABLE items ALTER COLUMN email TYPE varchar(50)").plan.changes
    assert only.recipe == "change column type"


def test_new_versions_follow_the_existing_width_or_timestamps(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    assert next_versions(discover(directory), 2) == ["001", "002"]
    (directory / "0041_a.sql").write_text("SELECT 1;")
    assert next_versions(discover(directory), 2) == ["0042", "0043"]
    (directory / "20260101120000_b.sql").write_text("SELECT 1;")
    now = datetime(2026, 11, 23, 15, 0, 0, tzinfo=UTC)
    assert next_versions(discover(directory), 2, now) == ["20261123150000", "20261123150001"]


@pytest.mark.parametrize(
    "change",
    [
        "DROP INDEX items_email_lower_idx",
        "ALTER TABLE items DROP COLUMN email",
        "ALTER TABLE items ADD UNIQUE (note)",
        "ALTER TABLE items RENAME COLUMN email TO email_address",
    ],
)
def test_every_concurrent_index_build_fails_on_an_invalid_leftover(
    project: Project, change: str
) -> None:
    """Up or down, a concurrent build is followed by a check of its index: after a build
    failed halfway, ``IF NOT EXISTS`` alone would keep the INVALID index on a re-run."""
    project.plan(change + ";\n")
    builds = 0
    for migration in discover(project.directory).migrations:
        for direction, file in (("up", migration.up), ("down", migration.down)):
            statements = [s.text for s in file.statements] if file else []
            for position, sql in enumerate(statements):
                built = re.search(r"INDEX CONCURRENTLY IF NOT EXISTS (\S+) ON", sql)
                if built is None:
                    continue
                builds += 1
                check = statements[position + 1]
                assert f"to_regclass('{built[1]}') AND NOT indisvalid" in check, file.path
                assert f"then migrate {direction} again" in check, file.path
    assert builds


@pytest.mark.parametrize(
    ("change", "recipe"),
    [
        ("UPDATE items SET status = 'new' WHERE status IS NULL", "batched backfill"),
        # a system catalog: a handful of rows, and no key the planner may walk
        (
            "UPDATE pg_index SET indisready = false WHERE indrelid = 'items'::regclass",
            "pass through",
        ),
    ],
)
def test_an_update_is_batched_only_on_a_table_of_the_application(
    project: Project, change: str, recipe: str
) -> None:
    result = project.plan(change + ";\n")
    assert [c.recipe for c in result.plan.changes] == [recipe]


def test_an_update_of_a_table_the_change_created_passes_through(project: Project) -> None:
    result = project.plan(
        "CREATE TABLE tags (id int PRIMARY KEY, name text);\nUPDATE tags SET name = lower(name);\n"
    )
    assert [c.recipe for c in result.plan.changes] == ["pass through", "pass through"]


@pytest.mark.parametrize("concurrently", ["", "CONCURRENTLY "])
def test_an_index_rebuilt_under_its_own_name_takes_it_in_the_contract(
    project: Project, concurrently: str
) -> None:
    result = project.plan(
        "DROP INDEX items_note_idx;\n"
        f"CREATE INDEX {concurrently}items_note_idx ON items (note, id);\n"
    )
    assert [c.recipe for c in result.plan.changes] == [
        "drop index concurrently",
        "create index concurrently under another name, then rename",
    ]
    ups = [v.files[0].text for v in result.versions]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_note_idx_new ON items" in ups[0]
    assert "DROP INDEX CONCURRENTLY IF EXISTS items_note_idx;" in ups[1]
    assert "ALTER INDEX IF EXISTS items_note_idx_new RENAME TO items_note_idx;" in ups[2]
    assert [v.rendered.migration.phase for v in result.versions] == [
        "expand",
        "contract",
        "contract",
    ]


def test_an_index_rebuilt_under_its_own_name_needs_a_free_temporary_name(
    tmp_path: Path,
) -> None:
    project = Project.create(tmp_path, BASE + "CREATE INDEX items_note_idx_new ON items (id);\n")
    with pytest.raises(CannotPlan, match="items_note_idx_new, the name it would be built"):
        project.plan(
            "DROP INDEX items_note_idx;\nCREATE INDEX items_note_idx ON items (note, id);\n"
        )


def test_a_table_is_dropped_in_the_contract_after_the_deploy(project: Project) -> None:
    result = project.plan("ALTER TABLE items ADD COLUMN z int;\nDROP TABLE logs;\n")
    assert [c.recipe for c in result.plan.changes] == ["pass through", "drop table"]
    (expand, contract) = result.versions
    assert expand.rendered.migration.phase == "expand"
    assert contract.rendered.migration.phase == "contract"
    assert "no longer uses logs" in contract.rendered.migration.deploy_before
    assert contract.rendered.down is None  # the data is gone: up-only
    assert "-- migrate:lint-ignore drop-table -- contract phase" in contract.rendered.up


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            "DROP TABLE parents",
            r"referenced by foreign keys \(public.children.children_parent_id_fkey",
        ),
        ("DROP TABLE logs;\nCREATE TABLE logs (id int)", "logs is dropped earlier in the change"),
        (
            "DROP TABLE logs;\nINSERT INTO logs VALUES ('x')",
            "logs is dropped earlier in the change",
        ),
    ],
)
def test_what_a_dropped_table_cannot_allow_is_refused(
    project: Project, change: str, reason: str
) -> None:
    with pytest.raises(CannotPlan, match=reason):
        project.plan(change + ";\n")


def test_dropping_with_cascade_or_a_new_table(project: Project) -> None:
    result = project.plan("DROP TABLE parents CASCADE;\n")
    assert [c.recipe for c in result.plan.changes] == ["drop table"]
    result = project.plan("CREATE TABLE scratch (id int);\nDROP TABLE scratch;\n")
    assert [c.recipe for c in result.plan.changes] == ["pass through", "pass through"]


def test_tables_dropped_together_may_reference_each_other(project: Project) -> None:
    """lemmy's `DROP TABLE inbox_combined, person_post_mention`: the foreign key goes
    with the table that holds it."""
    result = project.plan("DROP TABLE parents, children;\n")
    assert [c.recipe for c in result.plan.changes] == ["drop table"]


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE items SET qty = (SELECT max(qty) FROM items)",
        "DELETE FROM items a USING items b WHERE a.email = b.email AND a.id > b.id",
        "DELETE FROM items WHERE id NOT IN (SELECT min(id) FROM public.items GROUP BY email)",
    ],
)
def test_a_data_change_that_reads_its_own_table_is_not_batched(
    project: Project, change: str
) -> None:
    """Each batch would see what the batches before it changed."""
    with pytest.raises(CannotPlan, match="reads items, the table it changes"):
        project.plan(change + ";\n")


def test_a_delete_is_batched_by_key_range_and_up_only(project: Project) -> None:
    result = project.plan("DELETE FROM items i USING parents p WHERE p.id = i.parent_id;\n")
    (version,) = result.versions
    assert [c.recipe for c in result.plan.changes] == ["batched delete"]
    assert version.rendered.down is None
    assert (
        "DELETE FROM items i USING parents AS p\n"
        "WHERE i.id BETWEEN $1 AND $2 AND (p.id = i.parent_id);"
    ) in version.rendered.up
    assert "-- migrate:backfill table=items key=id" in version.rendered.up


def test_a_delete_from_a_table_the_change_created_passes_through(project: Project) -> None:
    result = project.plan("CREATE TABLE scratch (id int);\nDELETE FROM scratch;\n")
    assert [c.recipe for c in result.plan.changes] == ["pass through", "pass through"]


def test_a_rename_to_the_name_of_a_column_dropped_until_the_contract_is_refused(
    project: Project,
) -> None:
    """lemmy's `DROP COLUMN inbox_url` then `RENAME COLUMN shared_inbox_url TO inbox_url`:
    the old column lives until the contract phase, so the new one cannot take its name
    in the expand phase."""
    with pytest.raises(CannotPlan, match=r"items\.note is dropped earlier in the change"):
        project.plan(
            "ALTER TABLE items DROP COLUMN note;\nALTER TABLE items RENAME status TO note;\n"
        )


def test_drop_not_null_waits_for_readers_that_handle_null(project: Project) -> None:
    result = project.plan("ALTER TABLE items ALTER COLUMN email DROP NOT NULL;\n")
    (version,) = result.versions
    assert [c.recipe for c in result.plan.changes] == ["drop not null"]
    assert version.rendered.migration.deploy_before == (
        "application code that reads items.email and handles NULL"
    )
    assert "-- migrate:lint-ignore drop-not-null -- planned: runs after" in version.rendered.up
    assert version.rendered.down is not None
    assert "ALTER TABLE items ALTER COLUMN email SET NOT NULL;" in version.rendered.down


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("ALTER TABLE items ALTER COLUMN id DROP NOT NULL", "items.id is in the primary key"),
        ("ALTER TABLE accounts ALTER COLUMN id DROP NOT NULL", "accounts.id is an identity"),
        ("ALTER TABLE items ALTER COLUMN nope DROP NOT NULL", "column nope of items does not"),
    ],
)
def test_drop_not_null_postgresql_would_refuse_is_a_usage_error(
    project: Project, change: str, reason: str
) -> None:
    with pytest.raises(CannotPlan, match=reason) as refused:
        project.plan(change + ";\n")
    assert int(refused.value.exit_code) == 2


def test_reindex_becomes_concurrent_outside_a_transaction(project: Project) -> None:
    result = project.plan("REINDEX TABLE items;\nREINDEX INDEX public.items_note_idx;\n")
    (version,) = result.versions
    assert [c.recipe for c in result.plan.changes] == ["reindex concurrently"] * 2
    assert version.rendered.migration.mode == "no-transaction"
    assert "REINDEX TABLE CONCURRENTLY items;" in version.rendered.up
    assert "REINDEX INDEX CONCURRENTLY public.items_note_idx;" in version.rendered.up
    passed = project.plan("REINDEX TABLE pg_class;\n")
    assert [c.recipe for c in passed.plan.changes] == ["pass through"]


def test_an_index_on_a_column_the_replay_cannot_see_is_built(project: Project) -> None:
    """Sourcegraph adds tenant_id through dynamic SQL in a function: the replay does not
    see the column, and the index on it must still be planned (PostgreSQL checks it)."""
    result = project.plan("CREATE INDEX CONCURRENTLY items_tenant ON items (tenant_id);\n")
    assert [c.recipe for c in result.plan.changes] == ["pass through"]
