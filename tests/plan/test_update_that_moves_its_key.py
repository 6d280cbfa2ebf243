"""An ``UPDATE`` that sets the key its batches walk is refused by the planner with its
own reason, before anything is written (finding F-hostile-2: ``UPDATE k SET id = id + 1,
v = v + 1`` in batches of 10 reached the last row of each batch again in the next one,
``v = 2`` for 10 rows where the one statement gives 1 to all; only the lint gate on the
written backfill directive caught it, with a line about the directive)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.helpers import run_cli
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE k (id bigint PRIMARY KEY, code text NOT NULL UNIQUE, v int);\n"
    "CREATE TABLE n (code text NOT NULL, v int);\n"
    "CREATE UNIQUE INDEX n_code_idx ON n (code);\n"
)

REFUSED = r"it sets (id|code), the key of (k|n) the batches walk"


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE k SET id = id + 1, v = v + 1",
        "UPDATE k AS x SET v = 0, id = x.id * 10 WHERE x.v > 0",
        "UPDATE ONLY k SET id = -id",
        "UPDATE k SET id = n.v FROM n WHERE n.code = k.code",
        "UPDATE n SET code = upper(code)",  # no primary key: the unique NOT NULL column
    ],
)
def test_an_update_of_the_walked_key_is_refused(tmp_path: Path, change: str) -> None:
    with pytest.raises(CannotPlan, match=REFUSED):
        Project.create(tmp_path, BASE).plan(change + ";\n")


def test_an_update_of_another_column_still_walks_the_key(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan("UPDATE k SET v = length(code) + 1;\n")

    backfill = "".join(f.text for f in result.files if "migrate:backfill" in f.text)
    assert "-- migrate:backfill table=k key=id " in backfill
    assert "WHERE id BETWEEN $1 AND $2" in backfill


def test_migrate_plan_says_why_and_writes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "database" / "migrations"
    directory.mkdir(parents=True)
    (directory / "001_base.up.sql").write_text(BASE)
    (directory / "001_base.down.sql").write_text("SELECT 1;\n")
    (tmp_path / "x.sql").write_text("UPDATE k SET id = id + 1, v = v + 1;\n")

    result = run_cli("plan", "x.sql", cwd=tmp_path)

    assert result.code == 1
    assert result.stderr.startswith("error: x.sql:1: cannot run this UPDATE in batches: it sets id")
    assert "lint" not in result.stderr
    assert sorted(p.name for p in directory.iterdir()) == ["001_base.down.sql", "001_base.up.sql"]
