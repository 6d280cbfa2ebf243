"""A change that takes ACCESS EXCLUSIVE on an existing table ends its expand migration:
the lock is committed at once instead of being held while the file's next statements
wait for theirs (the linter's ``statements-after-access-exclusive``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config import Settings
from migrator.lint import run_lint
from migrator.plan.model import CannotPlan
from migrator.sql.split import split_statements
from tests.helpers import run_cli
from tests.plan.scenario import Project
from tests.plan.test_plans_on_postgres import BASE


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.create(tmp_path, BASE)


def _bodies(project: Project) -> list[list[str]]:
    """The statements of each planned up file, in order, each on one line."""
    return [
        [" ".join(statement.text.split()) for statement in split_statements(up).statements]
        for up in (version.files[0].text for version in project.results[-1].versions)
    ]


def _lint_errors(project: Project) -> list[str]:
    files = [f.path for f in project.results[-1].files]
    report = run_lint(Settings(migrations_dir=project.directory), files)
    return [f"{f.file}:{f.line} [{f.rule}]" for f in report.findings if f.severity == "error"]


def test_additions_to_three_tables_become_three_expand_migrations(project: Project) -> None:
    result = project.plan(
        "ALTER TABLE items ADD COLUMN flag boolean NOT NULL DEFAULT false;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n"
        "ALTER TABLE events ADD COLUMN seen_at timestamptz;\n"
    )
    assert [v.rendered.migration.phase for v in result.versions] == ["expand"] * 3
    assert _bodies(project) == [
        ["ALTER TABLE items ADD COLUMN flag boolean NOT NULL DEFAULT FALSE"],
        ["ALTER TABLE parents ADD COLUMN code text"],
        ["ALTER TABLE events ADD COLUMN seen_at timestamptz"],
    ]
    assert [f.path.name for f in result.files][::2] == [
        "002_change_expand.up.sql",
        "003_change_expand_2.up.sql",
        "004_change_expand_3.up.sql",
    ]
    assert result.plan.as_written and not result.plan.all_safe_already
    assert _lint_errors(project) == []


def test_what_takes_no_exclusive_lock_stays_with_the_statement_after_it(
    project: Project,
) -> None:
    project.plan(
        "CREATE TABLE tags (id int PRIMARY KEY, name text);\n"
        "ALTER TABLE items ADD COLUMN tag_id int;\n"
        "CREATE VIEW item_tags AS SELECT id, tag_id FROM items;\n"
        "CREATE TABLE notes (id int, body text);\n"
    )
    assert _bodies(project) == [
        [
            "CREATE TABLE tags (id int PRIMARY KEY, name text)",
            "ALTER TABLE items ADD COLUMN tag_id integer",
        ],
        [
            "CREATE VIEW item_tags AS SELECT id, tag_id FROM items",
            "CREATE TABLE notes (id int, body text)",
        ],
    ]
    assert _lint_errors(project) == []


def test_a_table_the_file_created_counts_as_existing_after_a_split(project: Project) -> None:
    """The migrations after a split run after the one that created the table: the linter
    sees it as existing there, and so must the planner."""
    project.plan(
        "CREATE TABLE tags (id int PRIMARY KEY);\n"
        "ALTER TABLE items ADD COLUMN tag_id int;\n"
        "ALTER TABLE tags ADD COLUMN slug text;\n"
        "CREATE VIEW tag_slugs AS SELECT slug FROM tags;\n"
    )
    assert _bodies(project) == [
        ["CREATE TABLE tags (id int PRIMARY KEY)", "ALTER TABLE items ADD COLUMN tag_id integer"],
        ["ALTER TABLE tags ADD COLUMN slug text"],
        ["CREATE VIEW tag_slugs AS SELECT slug FROM tags"],
    ]
    assert _lint_errors(project) == []


def test_changes_to_a_table_created_in_the_same_file_do_not_split(project: Project) -> None:
    result = project.plan(
        "CREATE TABLE tags (id int PRIMARY KEY);\n"
        "ALTER TABLE tags ADD COLUMN slug text;\n"
        "ALTER TABLE tags ADD COLUMN name text;\n"
    )
    assert len(result.versions) == 1 and result.plan.all_safe_already


@pytest.mark.parametrize(
    "change",
    [
        # the constraint is replaced, then another table waits under the lock
        "ALTER TABLE items DROP CONSTRAINT items_qty_check;\n"
        "ALTER TABLE items ADD CONSTRAINT items_qty_check CHECK (qty >= -1) NOT VALID;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n",
        # the default is removed, then something else runs in the same transaction (a
        # view of items alone would complete it under the lock: catalog only)
        "ALTER TABLE items ALTER COLUMN status DROP DEFAULT;\n"
        "CREATE VIEW statuses AS SELECT status FROM items, parents;\n",
        # a session setting must reach every statement after it
        "SET search_path = public;\n"
        "ALTER TABLE items ADD COLUMN flag int;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n",
        # what ran before the function changed may need what comes after it
        "CREATE FUNCTION item_flag(int) RETURNS int LANGUAGE sql AS 'SELECT 0';\n"
        "CREATE OR REPLACE FUNCTION item_flag(int) RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
        "ALTER TABLE items ADD COLUMN flag int;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n",
    ],
    ids=["replaced-constraint", "dropped-default", "session-setting", "replaced-function"],
)
def test_what_must_commit_together_is_not_split_and_stays_refused(
    project: Project, tmp_path: Path, change: str
) -> None:
    (tmp_path / "change.sql").write_text(change)
    result = run_cli("plan", "change.sql", "--dir", str(project.directory), cwd=tmp_path)
    assert result.code == 1, result.output
    assert "[statements-after-access-exclusive]" in result.stderr
    assert sorted(p.name for p in project.directory.iterdir()) == [
        "001_base.down.sql",
        "001_base.up.sql",
    ]


def test_replace_splits_a_pending_migration_that_holds_its_lock_too_long(
    project: Project, tmp_path: Path
) -> None:
    """A pending migration whose statements are each safe, but not together, is not
    "left as it is": it is replaced by the split migrations."""
    pending = project.directory / "002_columns.up.sql"
    pending.write_text(
        "ALTER TABLE items ADD COLUMN flag int;\nALTER TABLE parents ADD COLUMN code text;\n"
    )
    (project.directory / "002_columns.down.sql").write_text("SELECT 1;\n")

    result = run_cli(
        "plan", str(pending), "--replace", "--dir", str(project.directory), cwd=tmp_path
    )

    assert result.code == 0, result.output
    assert "in 2 migrations" in result.stdout and "left as it is" not in result.stdout
    assert sorted(p.name for p in project.directory.iterdir()) == [
        "001_base.down.sql",
        "001_base.up.sql",
        "002_columns_expand.down.sql",
        "002_columns_expand.up.sql",
        "003_columns_expand_2.down.sql",
        "003_columns_expand_2.up.sql",
    ]


def test_a_refused_statement_is_still_refused_after_a_split(project: Project) -> None:
    with pytest.raises(CannotPlan, match="does not exist"):
        project.plan(
            "ALTER TABLE items ADD COLUMN flag int;\n"
            "ALTER TABLE parents RENAME COLUMN nope TO parent_key;\n"
        )


def test_no_split_after_a_statement_that_removes_what_a_later_one_brings_back(
    tmp_path: Path,
) -> None:
    """Between two migrations the view would be missing: the file stays one transaction.
    The view again over the locked table alone is catalog only, so that transaction is
    the plan (hostile's P2); over another table too, the linter flags it and the planner
    refuses it rather than open that gap."""
    project = Project.create(tmp_path, BASE + "CREATE VIEW item_notes AS SELECT id FROM items;\n")
    change = (
        "DROP VIEW item_notes;\n"
        "ALTER TABLE items ADD COLUMN remark text;\n"
        "CREATE VIEW item_notes AS SELECT id, remark FROM items;\n"
    )
    result = project.plan(change)
    (migration,) = result.plan.migrations
    assert len(migration.steps) == 3
    assert _lint_errors(project) == []
    (tmp_path / "change.sql").write_text(change.replace("FROM items;", "FROM items, parents;"))
    for planned in project.directory.glob("002_*"):
        planned.unlink()
    refused = run_cli("plan", "change.sql", "--dir", str(project.directory), cwd=tmp_path)
    assert refused.code == 1, refused.output
    assert "[statements-after-access-exclusive]" in refused.stderr


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE items ADD COLUMN state text;\n"
        "ALTER TABLE items ALTER COLUMN state SET DEFAULT 'new';\n",
        "ALTER TABLE items ADD COLUMN state text, ALTER COLUMN state SET DEFAULT 'new';\n",
        "ALTER TABLE items ADD COLUMN state text;\n"
        "COMMENT ON COLUMN items.state IS 'where it is';\n"
        "ALTER TABLE items ADD CONSTRAINT state_known CHECK (state <> '') NOT VALID;\n",
        "ALTER TABLE items ADD COLUMN state text;\n"
        "CREATE FUNCTION items_state() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN NEW.state := coalesce(NEW.state, ''new''); RETURN NEW; END';\n"
        "CREATE TRIGGER items_state BEFORE INSERT ON items "
        "FOR EACH ROW EXECUTE FUNCTION items_state();\n",
        "ALTER TABLE items DROP CONSTRAINT items_qty_check;\n"
        "ALTER TABLE items ADD CONSTRAINT items_qty_check CHECK (qty >= -1) NOT VALID;\n",
    ],
    ids=["set-default", "one-alter-table", "comment-and-check", "trigger", "replaced-check"],
)
def test_a_column_is_never_split_from_what_completes_it(project: Project, change: str) -> None:
    """Issue 14, item 4: a split between ``ADD COLUMN`` and its default (or trigger,
    check, comment) lets inserts in between get NULL: what completes a table runs in
    the migration that locked it, marked for the linter; the plan lints clean."""
    result = project.plan(change)
    expand = [v for v in result.versions if v.rendered.migration.phase == "expand"]
    assert len(expand) == 1, [v.rendered.up for v in expand]
    assert "lint-ignore statements-after-access-exclusive" in expand[0].rendered.up
    assert _lint_errors(project) == []


def test_a_split_still_falls_between_tables(project: Project) -> None:
    project.plan(
        "ALTER TABLE items ADD COLUMN state text;\n"
        "ALTER TABLE items ALTER COLUMN state SET DEFAULT 'new';\n"
        "ALTER TABLE parents ADD COLUMN code text;\n"
        "ALTER TABLE parents ALTER COLUMN code SET DEFAULT 'c';\n"
    )
    assert _bodies(project) == [
        [
            "ALTER TABLE items ADD COLUMN state text",
            "ALTER TABLE items ALTER COLUMN state SET DEFAULT 'new'",
        ],
        [
            "ALTER TABLE parents ADD COLUMN code text",
            "ALTER TABLE parents ALTER COLUMN code SET DEFAULT 'c'",
        ],
    ]
    assert _lint_errors(project) == []


def test_another_table_between_a_column_and_its_default_is_refused(
    project: Project, tmp_path: Path
) -> None:
    """Completing ``items`` after ``parents`` would hold ``items`` while waiting for
    ``parents``; splitting would part the column from its default: refused."""
    (tmp_path / "change.sql").write_text(
        "ALTER TABLE items ADD COLUMN state text;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n"
        "ALTER TABLE items ALTER COLUMN state SET DEFAULT 'new';\n"
    )
    result = run_cli("plan", "change.sql", "--dir", str(project.directory), cwd=tmp_path)
    assert result.code == 1, result.output
    assert "[statements-after-access-exclusive]" in result.stderr


def test_a_change_that_scans_starts_an_expand_migration_of_its_own(project: Project) -> None:
    """plandiff F24: a check added, then the same table's column retyped. The type
    change's conversion check scans the table, which must not run under the check's
    lock; nothing after it completes the check, so it starts the next expand
    migration (both lint clean), instead of a refusal."""
    result = project.plan(
        "ALTER TABLE items ADD CONSTRAINT items_note_check CHECK (note <> '');\n"
        "ALTER TABLE items ALTER COLUMN qty TYPE bigint;\n"
    )
    expand = [m for m in result.plan.migrations if m.slot.name == "EXPAND"]
    assert len(expand) == 2
    # the rows are checked first (F36: the type change commits before the VALIDATE)
    assert expand[0].steps[0].sql.startswith("DO $migrator_check$")
    assert [s.sql.split(" ADD CONSTRAINT ")[-1][:16] for s in expand[0].steps[1:]] == [
        "items_note_check"
    ]
    assert expand[1].steps[0].sql.startswith("DO $migrator_check$")
    assert result.plan.changes[2].starts_expand
    assert _lint_errors(project) == []


def test_a_change_that_scans_before_what_completes_a_column_stays_refused(
    project: Project,
) -> None:
    """The split before the scanning change would show the new column without the
    default a later statement gives it: refused, as before."""
    with pytest.raises(CannotPlan, match="statements-after-access-exclusive"):
        project.plan(
            "ALTER TABLE items ADD COLUMN flag boolean;\n"
            "ALTER TABLE items ALTER COLUMN qty TYPE bigint;\n"
            "ALTER TABLE items ALTER COLUMN flag SET DEFAULT false;\n"
        )


def test_an_index_after_another_table_does_not_hold_the_first_expand_open(
    project: Project,
) -> None:
    """A column, another table's column, then an index on the first column: the plan
    builds the index CONCURRENTLY after every expand migration whatever the order, so it
    completes nothing the first expand transaction must hold: the split falls between
    the tables (it was refused as [statements-after-access-exclusive])."""
    result = project.plan(
        "ALTER TABLE items ADD COLUMN state text;\n"
        "ALTER TABLE parents ADD COLUMN code text;\n"
        "CREATE INDEX items_state_idx ON items (state);\n"
    )
    assert [m.name for m in result.plan.migrations] == [
        "change_expand",
        "change_expand_2",
        "change_expand_concurrently",
    ]
    assert _bodies(project)[:2] == [
        ["ALTER TABLE items ADD COLUMN state text"],
        ["ALTER TABLE parents ADD COLUMN code text"],
    ]
    assert _bodies(project)[2][0].startswith(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_state_idx ON items"
    )
    assert _lint_errors(project) == []


def test_an_index_does_not_let_a_column_part_from_its_default(project: Project) -> None:
    """The index is set aside, the default after it is not: still refused."""
    with pytest.raises(CannotPlan, match="statements-after-access-exclusive"):
        project.plan(
            "ALTER TABLE items ADD COLUMN state text;\n"
            "ALTER TABLE parents ADD COLUMN code text;\n"
            "CREATE INDEX items_state_idx ON items (state);\n"
            "ALTER TABLE items ALTER COLUMN state SET DEFAULT 'new';\n"
        )


def test_create_or_replace_of_a_new_function_only_adds(project: Project) -> None:
    """lemmy's 0168 (hostile's refusals, pattern P4): ``CREATE OR REPLACE FUNCTION`` of a
    function that does not exist yet counted as a replacement, so the lock split after
    the first table's column was refused."""
    change = (
        "CREATE OR REPLACE FUNCTION rank_of(n int) RETURNS int LANGUAGE sql IMMUTABLE\n"
        "AS $$ SELECT n * 2 $$;\n"
        "ALTER TABLE items ADD COLUMN rank int NOT NULL DEFAULT 0;\n"
        "ALTER TABLE events ADD COLUMN rank int NOT NULL DEFAULT 0;\n"
    )
    project.plan(change)
    assert [len(body) for body in _bodies(project)] == [2, 1]
    assert _lint_errors(project) == []


def test_create_or_replace_of_an_existing_function_still_keeps_the_transaction(
    project: Project,
) -> None:
    project.plan("CREATE FUNCTION rank_of(n int) RETURNS int LANGUAGE sql AS $$ SELECT n $$;\n")
    with pytest.raises(CannotPlan, match="statements-after-access-exclusive"):
        project.plan(
            "CREATE OR REPLACE FUNCTION rank_of(n int) RETURNS int LANGUAGE sql\n"
            "AS $$ SELECT n * 2 $$;\n"
            "ALTER TABLE items ADD COLUMN rank int NOT NULL DEFAULT 0;\n"
            "ALTER TABLE events ADD COLUMN rank int NOT NULL DEFAULT 0;\n"
        )


def test_a_catalog_change_that_carries_a_lint_ignore_completes_the_locked_table(
    project: Project,
) -> None:
    """lemmy's 0196 and svix's 20250905 (hostile's refusals, pattern P1): a second DROP NOT
    NULL of the locked table already carried the ``drop-not-null`` ignore, and a step had
    room for one only: refused. Both rules go in one directive now."""
    result = project.plan(
        "ALTER TABLE items ADD COLUMN seen int, ALTER COLUMN email DROP NOT NULL,\n"
        "  ALTER COLUMN qty DROP NOT NULL;\n"
    )
    assert len(result.versions) == 1
    text = result.versions[0].files[0].text
    assert "-- migrate:lint-ignore drop-not-null,statements-after-access-exclusive -- " in text
    assert _lint_errors(project) == []
