"""``ADD COLUMN c ... NOT NULL DEFAULT x; ALTER COLUMN c DROP DEFAULT`` (Django's idiom,
lemmy's 0172): the ``DROP DEFAULT`` removes nothing running code ever saw, so the
statements after it need not share its transaction (it was refused as a removal whose
gap they might fill: ``[statements-after-access-exclusive]``). It still changes what old
code's inserts get (F35): it commits last, after the statements that only create
something apart from its table (a new table, a concurrent index build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE instance (id serial PRIMARY KEY);\n"
    "CREATE TABLE sent_activity (id serial PRIMARY KEY, data text);\n"
    "CREATE TABLE follower (id serial PRIMARY KEY, published timestamptz);\n"
)

ADD_THEN_DROP_DEFAULT = (
    "ALTER TABLE sent_activity ADD COLUMN send_inboxes text[] NOT NULL DEFAULT '{}';\n"
    "ALTER TABLE sent_activity ALTER COLUMN send_inboxes DROP DEFAULT;\n"
)
NEW_TABLE = (
    "CREATE TABLE federation_queue_state (id serial PRIMARY KEY, "
    "instance_id integer NOT NULL REFERENCES instance (id));\n"
)
INDEX = "CREATE INDEX follower_published_idx ON follower (published);\n"


def _steps(tmp_path: Path, change: str) -> list[tuple[Slot, str]]:
    result = Project.create(tmp_path, BASE).plan(change)
    return [
        (migration.slot, step.sql)
        for migration in result.plan.migrations
        for step in migration.steps
        if not step.sql.startswith("DO $$")
    ]


@pytest.mark.parametrize("later", [NEW_TABLE, NEW_TABLE + INDEX], ids=["table", "table-index"])
def test_the_drop_default_of_an_added_column_commits_last(tmp_path: Path, later: str) -> None:
    steps = _steps(tmp_path, ADD_THEN_DROP_DEFAULT + later)

    assert steps[0] == (
        Slot.EXPAND,
        "ALTER TABLE sent_activity ADD COLUMN send_inboxes text[] NOT NULL DEFAULT '{}'",
    )
    assert steps[-1] == (
        Slot.EXPAND_LATE,
        "ALTER TABLE sent_activity ALTER COLUMN send_inboxes DROP DEFAULT",
    )
    assert any(sql.startswith("CREATE TABLE federation_queue_state") for _, sql in steps)


def test_a_drop_default_of_an_existing_column_still_keeps_what_follows(tmp_path: Path) -> None:
    """A default running code uses: what follows may fill the gap, so it shares the
    transaction, and a statement that locks another table is refused."""
    project = Project.create(tmp_path, BASE + "ALTER TABLE sent_activity ADD COLUMN k int;\n")
    project.directory.joinpath("002_k.up.sql").write_text(
        "ALTER TABLE sent_activity ALTER COLUMN k SET DEFAULT 0;\n"
    )
    with pytest.raises(CannotPlan, match=r"statements-after-access-exclusive"):
        project.plan("ALTER TABLE sent_activity ALTER COLUMN k DROP DEFAULT;\n" + NEW_TABLE)


def test_a_data_change_after_it_is_still_refused(tmp_path: Path) -> None:
    """A statement that is not a creation apart from the table runs before the deploy
    point after it: old code would insert without the default meanwhile (F35)."""
    with pytest.raises(CannotPlan, match=r"changes what running code's inserts"):
        Project.create(tmp_path, BASE).plan(
            ADD_THEN_DROP_DEFAULT + NEW_TABLE + "UPDATE follower SET published = now();\n"
        )


def test_a_creation_that_names_its_table_keeps_it_before(tmp_path: Path) -> None:
    """A new table referencing sent_activity is not apart from it: the drop of the
    default stays in its place, before it, and the plan is refused as before (F29)."""
    with pytest.raises(CannotPlan, match=r"changes what running code's inserts"):
        Project.create(tmp_path, BASE).plan(
            ADD_THEN_DROP_DEFAULT
            + "CREATE TABLE n (id int REFERENCES sent_activity (id));\n"
            + INDEX
        )
