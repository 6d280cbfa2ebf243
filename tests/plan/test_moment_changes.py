"""A default change of a column old code inserts into, or a dropped generation
expression or identity, changes what running code's writes get at the moment its
migration commits; the naive file's does at once, when the plan is done (or at its
deploy point). The plan commits it last, after index builds that change no row (plandiff
F29; F52 for DROP IDENTITY), and refuses it when another migration would let old code
write in between (F29's batched delete, F32's VALIDATE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = """
CREATE TABLE a (id serial PRIMARY KEY, a_c0 bigint NOT NULL, a_c1 bigint,
    a_g bigint GENERATED ALWAYS AS (a_c0 * 2) STORED, a_i int GENERATED ALWAYS AS IDENTITY);
CREATE TABLE b (id serial PRIMARY KEY, b_c0 bigint);
"""

REFUSED = "changes what running code's inserts"


def _last_migration_sql(project: Project) -> list[str]:
    last = project.results[-1].plan.migrations[-1]
    return [step.sql for step in last.steps]


@pytest.mark.parametrize(
    "moment",
    [
        "ALTER TABLE a ALTER COLUMN a_g DROP EXPRESSION",
        "ALTER TABLE a ALTER COLUMN a_c1 SET DEFAULT 5",
        "ALTER TABLE a ALTER COLUMN a_c1 DROP DEFAULT",
        # plandiff F52: old code's inserts got the identity's value, then fail (23502)
        "ALTER TABLE a ALTER COLUMN a_i DROP IDENTITY",
    ],
    ids=["drop-expression", "set-default", "drop-default", "drop-identity"],
)
@pytest.mark.parametrize("index_on", ["a (a_c0)", "b (b_c0)"], ids=["same-table", "other-table"])
def test_a_moment_change_before_index_builds_commits_after_them(
    tmp_path: Path, moment: str, index_on: str
) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(f"{moment};\nCREATE INDEX i1 ON {index_on};\n")
    names = [m.name for m in result.plan.migrations]
    assert names == ["change_expand_concurrently", "change_expand_after"]
    assert _last_migration_sql(project) == [moment]


@pytest.mark.parametrize(
    "change",
    [
        # F29's first form: the batched delete runs after the expression is gone
        "ALTER TABLE a ALTER COLUMN a_g DROP EXPRESSION;\nDELETE FROM a WHERE id % 4 = 1;\n",
        # F32: the check's VALIDATE runs in a later migration
        "ALTER TABLE a ADD CONSTRAINT a_check1 CHECK (a_c0 > 0);\n"
        "ALTER TABLE a ALTER COLUMN a_c1 SET DEFAULT 5;\n",
        # plandiff F25's form: the check is validated in a later migration
        "ALTER TABLE a ALTER COLUMN a_c1 SET DEFAULT 5;\n"
        "ALTER TABLE a ADD CONSTRAINT a_check2 CHECK (a_c1 IS NOT NULL);\n",
        # the lock splitter ends the expand migration between the two tables
        "ALTER TABLE a ALTER COLUMN a_c1 SET DEFAULT 5;\nALTER TABLE b ADD COLUMN b_n int;\n",
        # plandiff F35: old code's inserts got the new column's default until the drop
        "ALTER TABLE a ADD COLUMN a_n bigint DEFAULT 5;\n"
        "ALTER TABLE a ALTER COLUMN a_n DROP DEFAULT;\n"
        "ALTER TABLE a RENAME COLUMN a_c1 TO a_r;\n",
    ],
    ids=[
        "drop-expression-then-delete",
        "check-then-set-default",
        "set-default-then-check",
        "set-default-then-other-table",
        "new-column-default-dropped-then-rename",
    ],
)
def test_a_moment_change_with_a_migration_after_it_is_refused(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=REFUSED) as refused:
        project.plan(change)
    assert "in a file of its own" in (refused.value.hint or "")


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE a ALTER COLUMN a_g DROP EXPRESSION;\n",
        "ALTER TABLE b ADD COLUMN b_n int;\nALTER TABLE a ALTER COLUMN a_c1 SET DEFAULT 5;\n",
        # the default of a column the file adds stays with it (no old code inserts there)
        "ALTER TABLE a ADD COLUMN a_n bigint;\nALTER TABLE a ALTER COLUMN a_n SET DEFAULT 5;\n"
        "ALTER TABLE b ADD COLUMN b_n int;\n",
    ],
    ids=["alone", "last", "default-of-a-new-column"],
)
def test_a_moment_change_in_the_last_migration_is_planned(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(change)
    assert result.plan.migrations
