"""A data change the file runs after a drop that removes a foreign key it would run
under (plandiff F58: ``DROP TABLE b; DELETE FROM a ...``, ``b`` referencing ``a``): the
plan runs the drop in its contract phase and the data change before it, under the key,
and stops with 23503 where the naive file succeeds. Refused with the key's name; a data
change the removed key cannot make fail is planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = """
CREATE TABLE a (id serial PRIMARY KEY, a_c0 bigint);
CREATE TABLE b (id serial PRIMARY KEY, b_c0 bigint, b_a_id int REFERENCES a (id));
CREATE TABLE c (id serial PRIMARY KEY, c_a_id int REFERENCES a ON DELETE CASCADE);
CREATE TABLE d (id serial PRIMARY KEY, d_c_id int REFERENCES c (id));
CREATE TABLE e (id serial PRIMARY KEY, e_c0 bigint);
"""

REFUSED = {
    "drop-the-referencing-table-then-delete": (
        "DROP TABLE b;\nDELETE FROM a WHERE id % 4 = 1;\n",
        r"under the foreign key b_b_a_id_fkey of public\.b \(to public\.a\)",
    ),
    "drop-the-referencing-column-then-delete": (
        "ALTER TABLE b DROP COLUMN b_a_id;\nDELETE FROM a WHERE id % 4 = 1;\n",
        r"under the foreign key b_b_a_id_fkey of public\.b",
    ),
    # the DELETE of a cascades into c, whose rows d references
    "drop-a-key-a-delete-cascades-into": (
        "DROP TABLE d;\nDELETE FROM a WHERE id > 3;\n",
        r"under the foreign key d_d_c_id_fkey of public\.d \(to public\.c\)",
    ),
    "drop-the-referencing-table-then-truncate": (
        "DROP TABLE b;\nTRUNCATE a, c, d;\n",
        r"under the foreign key b_b_a_id_fkey of public\.b",
    ),
    "drop-with-cascade-then-insert-an-orphan": (
        "DROP TABLE a CASCADE;\nINSERT INTO b (b_a_id) VALUES (999);\n",
        r"under what `CASCADE` drops with public\.a",
    ),
}


@pytest.mark.parametrize("variant", sorted(REFUSED))
def test_a_data_change_under_a_key_an_earlier_drop_removes_is_refused(
    tmp_path: Path, variant: str
) -> None:
    change, reason = REFUSED[variant]
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=reason) as refusal:
        project.plan(change)
    assert "which the plan runs in the contract phase" in refusal.value.message
    assert refusal.value.message.startswith(f"{project.change_file}:2:")


@pytest.mark.parametrize(
    "change",
    [
        "DROP TABLE b;\nDELETE FROM e WHERE id > 3;\n",
        "DROP TABLE b;\nUPDATE a SET a_c0 = a_c0 + 1 WHERE id > 3;\n",
        "DROP TABLE b;\nDELETE FROM c WHERE id > 3;\n",
        "DROP TABLE b;\nDELETE FROM e USING a WHERE e.id = a.id AND a.a_c0 > 3;\n",
        "DROP TABLE b;\nTRUNCATE a CASCADE;\n",  # empties b too, which goes anyway
    ],
    ids=[
        "an-unrelated-table",
        "columns-no-key-references",
        "a-table-it-does-not-reference",
        "reading-the-referenced-table",
        "truncate-cascade",
    ],
)
def test_a_data_change_the_removed_key_cannot_fail_is_planned(tmp_path: Path, change: str) -> None:
    project = Project.create(tmp_path, BASE)
    planned = project.plan(change).plan.changes
    data_change = change.split(";\n")[1]
    assert "drop table" in [item.recipe for item in planned]
    assert data_change in [item.source for item in planned]
