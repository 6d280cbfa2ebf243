"""A constraint an earlier statement adds, which its plan validates (or attaches) only
in a later migration, is not dropped, validated or renamed by a later statement that
runs before that migration (plandiff F31: the DROP CONSTRAINT ran in the expand, the
VALIDATE then failed with 42704, half-applied): refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = "CREATE TABLE b (id serial PRIMARY KEY, b_c0 text NOT NULL, b_c1 int);\n"

ADDS = {
    "check": "ALTER TABLE b ADD CONSTRAINT k CHECK (b_c0 <> '')",
    "unique": "ALTER TABLE b ADD CONSTRAINT k UNIQUE (b_c1)",
    "foreign-key": "ALTER TABLE b ADD CONSTRAINT k FOREIGN KEY (b_c1) REFERENCES b (id)",
}

LATER = {
    "drop": "ALTER TABLE b DROP CONSTRAINT k",
    "validate": "ALTER TABLE b VALIDATE CONSTRAINT k",
    "rename": "ALTER TABLE b RENAME CONSTRAINT k TO k2",
}


#: a unique constraint's drop is planned in the contract, after the attach
REFUSED = [(a, b) for a in sorted(ADDS) for b in sorted(LATER) if (a, b) != ("unique", "drop")]


@pytest.mark.parametrize(("added", "later"), REFUSED, ids=[f"{a}-{b}" for a, b in REFUSED])
def test_a_constraint_named_before_its_plan_finishes_it_is_refused(
    tmp_path: Path, added: str, later: str
) -> None:
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"names constraint k of public\.b, which the plan"):
        project.plan(f"{ADDS[added]};\n{LATER[later]};\n")


@pytest.mark.parametrize(
    "change",
    [
        # added NOT VALID as written: nothing of it runs later
        "ALTER TABLE b ADD CONSTRAINT k CHECK (b_c0 <> '') NOT VALID;\n"
        "ALTER TABLE b DROP CONSTRAINT k;\n",
        # another constraint's name
        "ALTER TABLE b ADD CONSTRAINT k CHECK (b_c0 <> '');\n"
        "ALTER TABLE b ADD CONSTRAINT other CHECK (b_c1 > 0) NOT VALID;\n"
        "ALTER TABLE b DROP CONSTRAINT other;\n",
    ],
    ids=["not-valid-as-written", "another-constraint"],
)
def test_what_does_not_overtake_a_later_phase_is_planned(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    assert project.plan(change).plan.migrations


def test_a_unique_constraint_dropped_after_it_is_added_drops_after_the_attach(
    tmp_path: Path,
) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(f"{ADDS['unique']};\n{LATER['drop']};\n")
    steps = [step.sql for migration in result.plan.migrations for step in migration.steps]
    attach = steps.index("ALTER TABLE b ADD CONSTRAINT k UNIQUE USING INDEX k")
    assert steps.index("ALTER TABLE b DROP CONSTRAINT IF EXISTS k") > attach
