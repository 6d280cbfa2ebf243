"""``DROP TABLE`` of a table a view reads (plandiff F49): the naive statement fails
(2BP01); the plan drops the table only in its contract, after a batched ``DELETE`` of
the file had committed: rows lost, exit 0 until the contract. Refused with the reason,
unless the view is dropped earlier in the file or CASCADE is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c0 boolean);\n"
    "CREATE VIEW a_view AS SELECT count(*) AS n FROM a;\n"
)


@pytest.mark.parametrize(
    "change",
    ["DROP TABLE a;\n", "DELETE FROM a WHERE id % 4 = 1;\nDROP TABLE a;\n"],
    ids=["alone", "after-a-delete"],
)
def test_dropping_a_table_a_view_reads_is_refused(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"table public\.a is read by view public\.a_view"):
        project.plan(change)


@pytest.mark.parametrize(
    "change",
    ["DROP VIEW a_view;\nDROP TABLE a;\n", "DROP TABLE a CASCADE;\n"],
    ids=["view-dropped-first", "cascade"],
)
def test_dropping_a_table_without_readers_is_planned(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    assert project.plan(change).plan.migrations
