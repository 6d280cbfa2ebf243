"""A trigger the change creates on a table whose column it renames or retypes earlier is
refused (finding F51): the plan creates it in the expand phase, where it fired on an old
client's insert before the plan's sync trigger (triggers of one event fire in name
order), filled the new column with its own value, and the sync then copied that over
the old client's value: 2 of 102 rows lost their value, exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c1 numeric(8, 2), a_c2 int);\n"
    "CREATE TABLE b (id serial PRIMARY KEY, b_c int);\n"
    "CREATE FUNCTION fill() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN RETURN NEW; END $$;\n"
)
TRIGGER = (
    "CREATE TRIGGER a_fill6 BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
    "EXECUTE FUNCTION fill();\n"
)


@pytest.mark.parametrize(
    "earlier",
    [
        "ALTER TABLE a RENAME COLUMN a_c1 TO a_r5;\n",
        "ALTER TABLE a ALTER COLUMN a_c2 TYPE bigint;\n",
    ],
    ids=["rename", "retype"],
)
def test_a_trigger_on_a_table_with_a_synced_column_is_refused(tmp_path: Path, earlier: str) -> None:
    with pytest.raises(
        CannotPlan, match=r"trigger a_fill6 is created on a, whose .* renames or retypes"
    ):
        Project.create(tmp_path, BASE).plan(earlier + TRIGGER.format(table="a"))


@pytest.mark.parametrize(
    "change",
    [
        TRIGGER.format(table="a"),
        "ALTER TABLE a ADD COLUMN a_n int;\n" + TRIGGER.format(table="a"),
        # a table the file creates (on one old code writes, the trigger is a moment
        # change the rename's backfill would follow: refused, finding F53)
        "ALTER TABLE a RENAME COLUMN a_c1 TO a_r5;\nCREATE TABLE n (id int);\n"
        + TRIGGER.format(table="n"),
    ],
    ids=["alone", "after-an-added-column", "other-table"],
)
def test_other_triggers_are_planned(tmp_path: Path, change: str) -> None:
    result = Project.create(tmp_path, BASE).plan(change)

    assert any("CREATE TRIGGER a_fill6" in f.text for f in result.files)
