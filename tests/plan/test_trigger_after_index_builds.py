"""A ``CREATE TRIGGER`` on a table running code writes is committed after the plan's
concurrent index builds (F53: it changes what old code's writes do from the moment it
commits). Where the file adds a column to that table before, the column would exist
without the trigger during the builds (plandiff F55: ``ADD COLUMN code; CREATE INDEX
...; CREATE TRIGGER items_code`` that fills ``code``): refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE items (id serial PRIMARY KEY, status text, note text);\n"
    "CREATE TABLE other (id serial PRIMARY KEY, v int);\n"
    "CREATE FUNCTION set_code() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN NEW.code := 'c' || NEW.id; RETURN NEW; END $$;\n"
)
TRIGGER = (
    "CREATE TRIGGER items_code BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION set_code();\n"
)


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE items ADD COLUMN code text;\n"
        "CREATE INDEX items_status_idx ON items (status);\n" + TRIGGER,
        "ALTER TABLE items ADD COLUMN code text;\n"
        + TRIGGER
        + "CREATE INDEX other_v_idx ON other (v);\n",
    ],
    ids=["build-between", "build-after"],
)
def test_a_trigger_parted_from_the_column_by_index_builds_is_refused(
    tmp_path: Path, change: str
) -> None:
    with pytest.raises(CannotPlan, match=r"adds a column to its table before them"):
        Project.create(tmp_path, BASE).plan(change)


def test_a_trigger_and_its_column_without_builds_stay_together(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan(
        "ALTER TABLE items ADD COLUMN code text;\n" + TRIGGER
    )
    (migration,) = result.plan.migrations
    assert migration.slot is Slot.EXPAND and len(migration.steps) == 2


def test_a_trigger_on_a_table_without_a_new_column_goes_after_the_builds(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan(
        "ALTER TABLE other ADD COLUMN w int;\nCREATE INDEX items_status_idx ON items (status);\n"
        + TRIGGER.replace("NEW.code", "NEW.note")
    )
    assert result.plan.migrations[-1].slot is Slot.EXPAND_LATE
