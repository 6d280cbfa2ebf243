"""A data change that reads what the change drops later (finding F43): the plan runs the
data change before the deploy and the drop in its contract, so what running code writes
to the dropped column (or table) in between never reaches the rows the data change
wrote, and is then gone. Refused with the reason; a data change whose whole effect goes
with the drop, or that reads nothing dropped, is planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c0 int, a_c1 text);\n"
    "CREATE TABLE b (id serial PRIMARY KEY, b_c0 int, b_a int REFERENCES a (id));\n"
)

REFUSED = {
    "update-from": (
        "UPDATE a SET a_c0 = b.b_c0 FROM b WHERE b.b_a = a.id",
        "ALTER TABLE b DROP COLUMN b_c0",
        "column b_c0 of public.b",
    ),
    "update-same-table": (
        "UPDATE a SET a_c0 = length(a_c1) WHERE id < 30",
        "ALTER TABLE a DROP COLUMN a_c1",
        "column a_c1 of public.a",
    ),
    "update-where": (
        "UPDATE a SET a_c0 = 0 WHERE a_c1 = 'x'",
        "ALTER TABLE a DROP COLUMN a_c1",
        "column a_c1 of public.a",
    ),
    "delete-where": (
        "DELETE FROM b WHERE b_c0 = 3",
        "ALTER TABLE b DROP COLUMN b_c0",
        "column b_c0 of public.b",
    ),
    "insert-select": (
        "INSERT INTO a (a_c0, a_c1) SELECT b_c0, 'b' FROM b",
        "ALTER TABLE b DROP COLUMN b_c0",
        "column b_c0 of public.b",
    ),
    "insert-select-star": (
        "INSERT INTO b SELECT * FROM b WHERE false",
        "ALTER TABLE b DROP COLUMN b_c0",
        "column b_c0 of public.b",
    ),
    "insert-select-then-drop-table": (
        "INSERT INTO a (a_c0, a_c1) SELECT b_c0, 'b' FROM b",
        "DROP TABLE b",
        "table public.b",
    ),
}


@pytest.mark.parametrize("variant", sorted(REFUSED))
def test_dropping_what_an_earlier_data_change_read_is_refused(tmp_path: Path, variant: str) -> None:
    data, drop, what = REFUSED[variant]
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=rf"reads {what}, which this statement drops"):
        project.plan(f"{data};\n{drop};\n")


@pytest.mark.parametrize(
    ("data", "drop"),
    [
        # it only sets the dropped column: nothing of it outlives the drop
        ("UPDATE a SET a_c0 = 3 WHERE id % 3 = 0", "ALTER TABLE a DROP COLUMN a_c0"),
        # it reads other columns of the table
        ("UPDATE a SET a_c0 = 3 WHERE a_c1 IS NULL", "ALTER TABLE b DROP COLUMN b_c0"),
        ("DELETE FROM b WHERE b_c0 = 3", "ALTER TABLE a DROP COLUMN a_c1"),
    ],
    ids=["sets-only-the-dropped-column", "another-table", "another-column"],
)
def test_a_drop_of_what_no_data_change_read_is_planned(
    tmp_path: Path, data: str, drop: str
) -> None:
    project = Project.create(tmp_path, BASE)
    assert project.plan(f"{data};\n{drop};\n").plan.migrations
