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
