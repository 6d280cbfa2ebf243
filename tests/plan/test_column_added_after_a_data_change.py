"""A column added after a batched ``UPDATE`` or ``DELETE`` of the same table is
independent of it when every row gets the same value (no default, or one that is not
volatile, and no constraint but NOT NULL): the plan adds it in the expand, before the
batches (finding F-hostile-9, pocket-id's 20260814120000_api_client_access and
sourcegraph's 0010, refused by the file-order rule: "both name public.apis")."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import Project

BASE = "CREATE TABLE apis (id bigint PRIMARY KEY, name text NOT NULL, audience text NOT NULL);\n"
UPDATE = "UPDATE apis SET audience = rtrim(audience, '/') WHERE audience <> rtrim(audience, '/');\n"
DELETE = "DELETE FROM apis WHERE NOT id = 1;\n"
REFUSED = "which the plan runs in the backfill phase, but it would run before that"


@pytest.mark.parametrize("data_change", [UPDATE, DELETE], ids=["update", "delete"])
@pytest.mark.parametrize(
    "column",
    [
        "allow_cimd_clients boolean NOT NULL DEFAULT false",
        "IF NOT EXISTS workspace_id uuid",
        "created timestamptz NOT NULL DEFAULT now()",  # stable: one value for every row
    ],
)
def test_a_column_every_row_gets_alike_goes_in_before_the_batches(
    tmp_path: Path, data_change: str, column: str
) -> None:
    result = Project.create(tmp_path, BASE).plan(
        f"{data_change}ALTER TABLE apis ADD COLUMN {column};\n"
    )
    slots = [migration.slot for migration in result.plan.migrations]
    added = next(m for m in result.plan.migrations if "ADD COLUMN" in m.steps[-1].sql)
    assert added.slot is Slot.EXPAND and Slot.BACKFILL in slots


@pytest.mark.parametrize(
    "later",
    [
        "ALTER TABLE apis ADD COLUMN r float DEFAULT random()",
        "ALTER TABLE apis ADD COLUMN c int DEFAULT 1 CHECK (c > 0)",
        "ALTER TABLE apis ADD COLUMN c int, ALTER COLUMN name DROP NOT NULL",
        "CREATE UNIQUE INDEX apis_audience_key ON apis (audience)",
    ],
)
def test_what_depends_on_the_rows_is_still_refused(tmp_path: Path, later: str) -> None:
    with pytest.raises(CannotPlan, match=REFUSED):
        Project.create(tmp_path, BASE).plan(f"{UPDATE}{later};\n")


#: a column filled in batches from a volatile default (lemmy's 0070, 0104)
FILLED = "ALTER TABLE apis ADD COLUMN followers_url text NOT NULL DEFAULT gen_random_uuid()::text"


@pytest.mark.parametrize(
    "later",
    [
        "ALTER TABLE apis ADD COLUMN inbox_url text NOT NULL DEFAULT gen_random_uuid()::text",
        "ALTER TABLE apis ADD COLUMN last_refreshed_at timestamp NOT NULL DEFAULT now()",
        "ALTER TABLE apis ADD COLUMN private_key text",
    ],
    ids=["volatile", "clock", "plain"],
)
@pytest.mark.parametrize("unique", [False, True], ids=["", "unique-first"])
def test_a_column_added_after_another_columns_fill_is_planned_beside_it(
    tmp_path: Path, later: str, unique: bool
) -> None:
    """F-hostile-9, second form: the fill writes only its own column, and the later
    column's default reads no column: each column gets its own recipe, in file order
    within each phase (both expand steps, then both backfills, then the contracts)."""
    first = FILLED.replace("DEFAULT", "UNIQUE DEFAULT") if unique else FILLED
    result = Project.create(tmp_path, BASE).plan(f"{first};\n{later};\n")
    steps = [(m.slot, step.sql) for m in result.plan.migrations for step in m.steps]
    column = later.split()[5]
    added = next(
        slot
        for slot, sql in steps
        if f"ADD COLUMN IF NOT EXISTS {column}" in sql or (f"ADD COLUMN {column}" in sql)
    )
    assert added is Slot.EXPAND
    fills = [sql for slot, sql in steps if slot is Slot.BACKFILL]
    assert fills[0].startswith("UPDATE apis SET followers_url = ")
    if "random" in later:
        assert fills[1].startswith(f"UPDATE apis SET {column} = ")


def test_a_later_column_with_a_constraint_is_still_refused_after_a_fill(tmp_path: Path) -> None:
    with pytest.raises(CannotPlan, match=REFUSED):
        Project.create(tmp_path, BASE).plan(
            f"{FILLED};\nALTER TABLE apis ADD COLUMN c int DEFAULT 1 CHECK (c > 0);\n"
        )


def test_a_volatile_column_after_a_batched_update_is_still_refused(tmp_path: Path) -> None:
    """Only after another column's fill: the batched UPDATE's rule keeps to columns
    every row gets alike."""
    with pytest.raises(CannotPlan, match=REFUSED):
        Project.create(tmp_path, BASE).plan(f"{UPDATE}{FILLED};\n")
