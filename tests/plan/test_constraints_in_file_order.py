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


#: a constraint that reads a column, then the column dropped (plandiff F40)
DROPPED_COLUMN = {
    "check": ("ALTER TABLE b ADD CONSTRAINT k CHECK (b_c0 IS NOT NULL)", "b_c0"),
    "unnamed-check": ("ALTER TABLE b ADD CHECK (length(b.b_c0) > 0)", "b_c0"),
    "unique": ("ALTER TABLE b ADD CONSTRAINT k UNIQUE (b_c1)", "b_c1"),
    "foreign-key": ("ALTER TABLE b ADD CONSTRAINT k FOREIGN KEY (b_c1) REFERENCES b (id)", "b_c1"),
}


@pytest.mark.parametrize("added", sorted(DROPPED_COLUMN))
def test_a_column_dropped_after_a_constraint_that_reads_it_is_refused(
    tmp_path: Path, added: str
) -> None:
    """The naive file drops the constraint with the column; the plan would enforce it
    from its expand on, and the new code's writes without the column break it until the
    contract (23514 for `CHECK (c IS NOT NULL)`)."""
    statement, column = DROPPED_COLUMN[added]
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=rf"drops column {column} of public\.b, which the"):
        project.plan(f"{statement};\nALTER TABLE b DROP COLUMN {column};\n")


def test_a_column_dropped_that_no_added_constraint_reads_is_planned(tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    change = "ALTER TABLE b ADD CONSTRAINT k CHECK (b_c1 > 0);\nALTER TABLE b DROP COLUMN b_c0;\n"
    assert project.plan(change).plan.migrations


def test_a_comment_on_a_unique_constraint_its_plan_attaches_later_is_refused(
    tmp_path: Path,
) -> None:
    """``ADD CONSTRAINT k UNIQUE (...)``: the plan attaches k only in its contract phase,
    so ``COMMENT ON CONSTRAINT k`` in the expand failed 42704 (F42's class)."""
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"comments on constraint k of public\.b, which the"):
        project.plan(f"{ADDS['unique']};\nCOMMENT ON CONSTRAINT k ON b IS 'x';\n")


@pytest.mark.parametrize("added", ["check", "foreign-key"])
def test_a_comment_on_a_constraint_added_not_valid_in_the_expand_is_planned(
    tmp_path: Path, added: str
) -> None:
    """A check or foreign key exists (NOT VALID) from the expand on: commenting on it
    there is fine."""
    project = Project.create(tmp_path, BASE)
    result = project.plan(f"{ADDS[added]};\nCOMMENT ON CONSTRAINT k ON b IS 'x';\n")
    comment = next(
        m for m in result.plan.migrations for s in m.steps if s.sql.startswith("COMMENT")
    )
    assert comment.phase == "expand"
