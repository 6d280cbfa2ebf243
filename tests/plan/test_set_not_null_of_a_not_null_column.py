"""``SET NOT NULL`` of a column the replayed schema has NOT NULL already (declared so, a
primary-key, identity or serial column) does nothing on the server: the plan leaves it
out instead of passing it through, where its ACCESS EXCLUSIVE lock on the table kept
another table's in-place change locked with it and the plan was refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.plan.scenario import Project

OTHER = (
    "CREATE TABLE b (id serial PRIMARY KEY, b_c1 numeric(8, 2),"
    " b_g numeric(8, 2) GENERATED ALWAYS AS (b_c1 * 2) STORED);\n"
)
#: committed in place in the expand migration (ACCESS EXCLUSIVE on b)
RETYPE = "ALTER TABLE b ALTER COLUMN b_g TYPE numeric(12, 2);\n"
SET_NOT_NULL = "ALTER TABLE a ALTER COLUMN x SET NOT NULL;\n"


@pytest.mark.parametrize(
    "table",
    [
        "CREATE TABLE a (x int NOT NULL, y int);\n",
        "CREATE TABLE a (x int, y int);\nALTER TABLE a ADD PRIMARY KEY (x);\n",
        "CREATE TABLE a (x int GENERATED ALWAYS AS IDENTITY, y int);\n",
        "CREATE TABLE a (x serial, y int);\n",
        "CREATE TABLE a (x int, y int);\nALTER TABLE a ALTER COLUMN x SET NOT NULL;\n",
    ],
    ids=["declared", "primary-key", "identity", "serial", "set-before"],
)
@pytest.mark.parametrize("order", ["after", "before"])
def test_a_no_op_set_not_null_is_left_out_beside_another_change(
    tmp_path: Path, table: str, order: str
) -> None:
    change = RETYPE + SET_NOT_NULL if order == "after" else SET_NOT_NULL + RETYPE
    result = Project.create(tmp_path, table + OTHER).plan(change)

    written = "".join(f.text for f in result.files)
    assert "b_g TYPE numeric(12, 2)" in written
    assert not any("SET NOT NULL" in step.sql for m in result.plan.migrations for step in m.steps)
    assert "a.x is NOT NULL already" in " ".join(w for c in result.plan.changes for w in c.warnings)


def test_a_file_of_only_a_no_op_writes_nothing_and_says_so(tmp_path: Path) -> None:
    directory = tmp_path / "database" / "migrations"
    directory.mkdir(parents=True)
    (directory / "001_base.up.sql").write_text("CREATE TABLE a (x int PRIMARY KEY);\n")
    (directory / "001_base.down.sql").write_text("SELECT 1;\n")
    (tmp_path / "x.sql").write_text(SET_NOT_NULL)

    result = run_cli("plan", "x.sql", cwd=tmp_path)

    assert result.code == 0, result.output
    assert "Nothing to write" in result.stdout
    assert sorted(p.name for p in directory.iterdir()) == ["001_base.down.sql", "001_base.up.sql"]


def test_a_nullable_column_is_still_planned(tmp_path: Path) -> None:
    result = Project.create(tmp_path, "CREATE TABLE a (id int PRIMARY KEY, x int);\n").plan(
        SET_NOT_NULL
    )

    assert any("SET NOT NULL" in s.sql for m in result.plan.migrations for s in m.steps)
