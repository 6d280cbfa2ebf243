"""PostgreSQL builds no index CONCURRENTLY on a partitioned table and adds no foreign
key to one NOT VALID: what the planner would plan so is refused with the reason and the
by-hand steps (plandiff F14, F30: the foreign key's index failed with 0A000 after the
column was added, half-applied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

BASE = """
CREATE TABLE a (id serial PRIMARY KEY);
CREATE TABLE b (id int NOT NULL, b_c0 int) PARTITION BY RANGE (id);
CREATE TABLE b_p1 PARTITION OF b FOR VALUES FROM (MINVALUE) TO (10);
CREATE TABLE b_p2 PARTITION OF b FOR VALUES FROM (10) TO (MAXVALUE);
"""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("ALTER TABLE b ADD COLUMN b_f1 int REFERENCES a (id)", "foreign key to it NOT VALID"),
        (
            "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (b_c0) REFERENCES a (id)",
            "foreign key to it NOT VALID",
        ),
        ("ALTER TABLE b ADD CONSTRAINT b_key UNIQUE (id, b_c0)", "its index CONCURRENTLY"),
        ("CREATE INDEX b_c0_idx ON b (b_c0)", "its index CONCURRENTLY"),
    ],
    ids=["references-column", "foreign-key", "unique", "index"],
)
def test_what_needs_a_concurrent_build_or_not_valid_key_is_refused(
    tmp_path: Path, change: str, reason: str
) -> None:
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=f"b is a partitioned table: .*{reason}") as refused:
        project.plan(change)
    assert "by hand" in (refused.value.hint or "") or "maintenance window" in (
        refused.value.hint or ""
    )


def test_a_plain_column_of_a_partitioned_table_is_still_planned(tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    assert project.plan("ALTER TABLE b ADD COLUMN note text").plan.migrations


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE a ADD COLUMN a_b int REFERENCES b (id)",
        "ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (id) REFERENCES b (id)",
    ],
    ids=["references-column", "foreign-key"],
)
def test_a_foreign_key_to_a_partitioned_table_is_refused(tmp_path: Path, change: str) -> None:
    """plandiff F33: PostgreSQL 15 validates a foreign key to a partitioned table, added
    NOT VALID, only on the parent: its per-partition constraints stay NOT VALID."""
    project = Project.create(tmp_path, BASE.replace("b_c0 int)", "b_c0 int, PRIMARY KEY (id))"))
    with pytest.raises(CannotPlan, match="references b, a partitioned table"):
        project.plan(change)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ("ALTER TABLE b RENAME COLUMN b_a_id TO b_r1", "rename"),
        ("ALTER TABLE b ALTER COLUMN b_a_id TYPE bigint", "change the type of"),
    ],
    ids=["rename", "retype"],
)
def test_a_foreign_key_column_of_a_partitioned_table_is_not_shadowed(
    tmp_path: Path, change: str, what: str
) -> None:
    """plandiff F37: the shadow column's copy of the foreign key would be added NOT
    VALID, which PostgreSQL refuses on a partitioned table (42809): refused, with why."""
    project = Project.create(
        tmp_path, BASE.replace("b_c0 int)", "b_c0 int, b_a_id int REFERENCES a (id))")
    )
    with pytest.raises(CannotPlan, match=f"cannot {what} b.b_a_id in phases: b is a partitioned"):
        project.plan(change)
    assert len(list(project.directory.iterdir())) == 2  # nothing written


def test_a_plain_column_of_a_partitioned_table_is_still_renamed(tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE.replace("b_c0 int)", "b_c0 int, PRIMARY KEY (id))"))
    result = project.plan("ALTER TABLE b RENAME COLUMN b_c0 TO b_r1")
    assert [c.recipe for c in result.plan.changes] == ["rename column"]


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ("ALTER TABLE c RENAME COLUMN c_b_id TO c_r1", "rename"),
        ("ALTER TABLE c ALTER COLUMN c_b_id TYPE bigint", "change the type of"),
    ],
    ids=["rename", "retype"],
)
def test_a_foreign_key_column_referencing_a_partitioned_table_is_not_shadowed(
    tmp_path: Path, change: str, what: str
) -> None:
    """plandiff F41 (generator, seed 5509): the shadow column's copy of a foreign key to a
    partitioned table, added NOT VALID and validated later, leaves its per-partition
    constraints NOT VALID and under other names (as F33): refused, with why."""
    project = Project.create(
        tmp_path,
        BASE.replace("b_c0 int)", "b_c0 int, PRIMARY KEY (id))")
        + "CREATE TABLE c (id serial PRIMARY KEY, c_b_id int REFERENCES b (id));\n",
    )
    with pytest.raises(
        CannotPlan,
        match=f"cannot {what} c.c_b_id in phases: its foreign key c_c_b_id_fkey references b",
    ):
        project.plan(change)
    assert len(list(project.directory.iterdir())) == 2  # nothing written
