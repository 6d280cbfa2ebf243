"""A view renamed, or a table or view moved to another schema, that running code reads
by its name (finding F44): passed through in the expand, it broke that code before the
deploy. Refused with how to do it by hand; one the change itself creates is planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE SCHEMA s2;\n"
    "CREATE TABLE b (id serial PRIMARY KEY, b_c0 int);\n"
    "CREATE VIEW b_view AS SELECT id, b_c0 FROM b;\n"
    "CREATE MATERIALIZED VIEW b_totals AS SELECT count(*) AS n FROM b;\n"
)

REFUSED = {
    "table-set-schema": ("ALTER TABLE b SET SCHEMA s2", r"moving the table b breaks"),
    "view-set-schema": ("ALTER VIEW b_view SET SCHEMA s2", r"moving the view b_view breaks"),
    "view-rename": ("ALTER VIEW b_view RENAME TO b_view2", r"renaming the view b_view breaks"),
    "materialized-view-rename": (
        "ALTER MATERIALIZED VIEW b_totals RENAME TO b_sums",
        r"renaming the view b_totals breaks",
    ),
}


@pytest.mark.parametrize("variant", sorted(REFUSED))
def test_moving_what_running_code_reads_is_refused(tmp_path: Path, variant: str) -> None:
    change, reason = REFUSED[variant]
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=reason):
        project.plan(f"{change};\n")


@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE c (id int PRIMARY KEY);\nALTER TABLE c SET SCHEMA s2;\n",
        "CREATE VIEW c AS SELECT id FROM b;\nALTER VIEW c RENAME TO c2;\n",
    ],
    ids=["table-created-in-the-change", "view-created-in-the-change"],
)
def test_what_the_change_creates_moves_as_written(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    assert project.plan(change).plan.as_written
