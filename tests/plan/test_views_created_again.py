"""Drop the views over a table, change it catalog only, create the same views again
(lemmy's 0080; hostile's refusals pattern P2): a ``CREATE VIEW`` whose tables the
migration locked already is catalog only, so it completes the table under the lock; and
the gap the ``DROP VIEW`` left is closed once every view it dropped is created again
under its name, so the migration may end there and another table's change go in the
next (it was refused: ``[statements-after-access-exclusive]``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE person (id serial PRIMARY KEY, name text NOT NULL);\n"
    "CREATE TABLE local_user (id serial PRIMARY KEY, person_id int NOT NULL);\n"
    "CREATE VIEW person_alias_1 AS SELECT * FROM person;\n"
    "CREATE VIEW person_alias_2 AS SELECT * FROM person;\n"
)
DROP = "DROP VIEW person_alias_1, person_alias_2;\n"
ADD = "ALTER TABLE person ADD COLUMN bot_account boolean NOT NULL DEFAULT FALSE;\n"
CREATE_1 = "CREATE VIEW person_alias_1 AS SELECT * FROM person;\n"
CREATE_2 = "CREATE VIEW person_alias_2 AS SELECT * FROM person;\n"
OTHER = "ALTER TABLE local_user ADD COLUMN show_bot_accounts boolean NOT NULL DEFAULT TRUE;\n"


def test_views_created_again_close_the_gap(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan(DROP + ADD + CREATE_1 + CREATE_2 + OTHER)
    migrations = [[step.sql for step in m.steps] for m in result.plan.migrations]
    assert len(migrations) == 2
    assert migrations[0][0].startswith("DROP VIEW person_alias_1, person_alias_2")
    assert [sql.split(" AS")[0] for sql in migrations[0][2:]] == [
        "CREATE VIEW person_alias_1",
        "CREATE VIEW person_alias_2",
    ]
    assert migrations[1] == [OTHER.strip().rstrip(";")]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (DROP + ADD + CREATE_1 + OTHER, "a dropped view not created again"),
        (
            DROP
            + ADD
            + CREATE_1
            + "CREATE VIEW person_alias_2 AS SELECT p.* FROM person p JOIN local_user u "
            "ON u.person_id = p.id;\n",
            "a view reading a table the migration did not lock",
        ),
    ],
)
def test_a_gap_left_open_is_still_refused(tmp_path: Path, change: str, why: str) -> None:
    with pytest.raises(CannotPlan, match=r"statements-after-access-exclusive"):
        Project.create(tmp_path, BASE).plan(change)
