"""From the deploy to the contract of a type change, the new code writes new-type
values into the old column; an enum column takes none typed otherwise (plandiff F34:
enum to text, 42804 for new clients): refused with the reason. Into an enum is
planned (the old column's type takes the enum's labels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = """
CREATE TYPE app.mood AS ENUM ('sad', 'ok');
CREATE TABLE a (id serial PRIMARY KEY, m app.mood, t text);
"""


@pytest.mark.parametrize("new_type", ["text", "varchar(10)"])
def test_an_enum_column_retyped_is_refused(tmp_path: Path, new_type: str) -> None:
    project = Project.create(tmp_path, "CREATE SCHEMA app;\n" + BASE)
    with pytest.raises(CannotPlan, match=r"a\.m is of the enum type app\.mood") as refused:
        project.plan(f"ALTER TABLE a ALTER COLUMN m TYPE {new_type}")
    assert f"add a {new_type} column under another name" in (refused.value.hint or "")


def test_a_text_column_retyped_to_an_enum_is_planned(tmp_path: Path) -> None:
    project = Project.create(tmp_path, "CREATE SCHEMA app;\n" + BASE)
    result = project.plan("ALTER TABLE a ALTER COLUMN t TYPE app.mood USING t::app.mood")
    assert [c.recipe for c in result.plan.changes] == ["change column type"]
