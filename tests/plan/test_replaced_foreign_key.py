"""A foreign key dropped and added again (a new ``ON DELETE`` action) is replaced in one
transaction, the new one ``NOT VALID`` and validated later (findings F-hostile-5 and
F-hostile-6, pocket-id's 20250822000000_foreign_keys_improvements): built after an index
of its own, the new key came two migrations after the drop, and meanwhile deleted
parents left dangling rows (the VALIDATE then failed, half-applied); with an index on the
column already, the lock split refused the plan with advice it could not follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE users (id int PRIMARY KEY);\n"
    "CREATE TABLE audit_logs (id int PRIMARY KEY,\n"
    "    user_id int REFERENCES users ON DELETE SET NULL);\n"
)
INDEX = "CREATE INDEX idx_audit_logs_user_id ON audit_logs (user_id);\n"
DROP = "ALTER TABLE audit_logs DROP CONSTRAINT IF EXISTS audit_logs_user_id_fkey"
ADD = (
    "ADD CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) "
    "ON DELETE CASCADE"
)


@pytest.mark.parametrize("index", ["", INDEX], ids=["no-index", "indexed"])
@pytest.mark.parametrize(
    "change", [f"{DROP}, {ADD};\n", f"{DROP};\nALTER TABLE audit_logs {ADD};\n"], ids=["one", "two"]
)
def test_the_new_key_goes_in_with_the_drop(tmp_path: Path, index: str, change: str) -> None:
    result = Project.create(tmp_path, BASE + index).plan(change)

    first = result.plan.migrations[0]
    sqls = [step.sql for step in first.steps]
    assert first.slot is Slot.EXPAND
    assert f"{DROP}" in sqls
    assert f"ALTER TABLE audit_logs {ADD} NOT VALID" in sqls
    assert not any("CREATE INDEX" in s.sql for m in result.plan.migrations for s in m.steps)
    validate = result.plan.migrations[-1]
    assert [s.sql for s in validate.steps] == [
        "ALTER TABLE audit_logs VALIDATE CONSTRAINT audit_logs_user_id_fkey"
    ]


def test_a_new_foreign_key_on_an_unindexed_column_still_gets_its_index(tmp_path: Path) -> None:
    base = BASE + "ALTER TABLE audit_logs ADD COLUMN other_id int;\n"
    result = Project.create(tmp_path, base).plan(
        "ALTER TABLE audit_logs ADD FOREIGN KEY (other_id) REFERENCES users (id);\n"
    )

    assert any(
        "CREATE INDEX CONCURRENTLY" in s.sql for m in result.plan.migrations for s in m.steps
    )


@pytest.mark.parametrize(
    "action",
    [
        "ON DELETE CASCADE",
        "ON DELETE SET NULL ON UPDATE CASCADE",
        "ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED",
    ],
)
def test_a_key_that_acts_otherwise_is_swapped_at_the_deploy_point(
    tmp_path: Path, action: str
) -> None:
    """F-hostile-6: the new action applies from the swap's commit on, so the swap is the
    last migration before the deploy point the plan names (old clients deleting parents
    in between got CASCADE where the naive file still gave them SET NULL)."""
    add = ADD.replace("ON DELETE CASCADE", action)
    result = Project.create(tmp_path, BASE).plan(f"{DROP}, {add};\n")

    swap, validate = result.plan.migrations
    assert [s.sql for s in swap.steps][-2:] == [
        DROP,
        f"ALTER TABLE audit_logs {add} NOT VALID",
    ]
    assert not swap.deploy_before
    assert "audit_logs_user_id_fkey" in validate.deploy_before
    assert [s.sql for s in validate.steps] == [
        "ALTER TABLE audit_logs VALIDATE CONSTRAINT audit_logs_user_id_fkey"
    ]


def test_a_key_that_acts_the_same_names_no_deploy(tmp_path: Path) -> None:
    add = ADD.replace("ON DELETE CASCADE", "ON DELETE SET NULL")
    result = Project.create(tmp_path, BASE).plan(f"{DROP}, {add};\n")

    assert not any(m.deploy_before for m in result.plan.migrations)


def test_a_key_that_acts_otherwise_before_a_batched_delete_is_refused(tmp_path: Path) -> None:
    """A later migration before the deploy point lets old clients delete parents with
    the new action meanwhile: F29's rule refuses it."""
    with pytest.raises(CannotPlan, match="changes what running code's inserts"):
        Project.create(tmp_path, BASE).plan(
            f"{DROP}, {ADD};\nDELETE FROM audit_logs WHERE id > 100;\n"
        )


def test_a_match_full_replacement_is_refused(tmp_path: Path) -> None:
    """A MATCH FULL key is not checked beforehand (a row with one of its columns NULL
    breaks it, which the rows check does not compute), and its VALIDATE runs after the
    drop committed: the naive file would fail and change nothing. Refused, naming both."""
    add = ADD.replace("REFERENCES users (id)", "REFERENCES users (id) MATCH FULL")
    with pytest.raises(
        CannotPlan, match=r"can fail in a later migration .* cannot check it .* foreign key"
    ):
        Project.create(tmp_path, BASE).plan(f"{DROP}, {add};\n")
    (tmp_path / "simple").mkdir()
    same_match = ADD.replace("ON DELETE CASCADE", "ON DELETE SET NULL")
    assert Project.create(tmp_path / "simple", BASE).plan(f"{DROP}, {same_match};\n")
