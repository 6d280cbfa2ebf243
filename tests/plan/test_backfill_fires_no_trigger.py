"""A plan whose own backfill updates every row (a renamed or retyped column's copy, a
column added with a volatile default) is refused when an enabled trigger of the table
fires on that UPDATE (finding F50: a ``BEFORE UPDATE`` version counter was bumped on 51
of 56 rows by the rename's backfill, where the naive ``RENAME COLUMN`` fires nothing; an
audit trigger wrote a row per backfilled row). The file's own ``UPDATE`` fires the
triggers as the naive one does, and stays planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project

TABLE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c0 int, version int NOT NULL DEFAULT 1);\n"
    "CREATE FUNCTION a_version() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;\n"
)
VERSION = "CREATE TRIGGER a_version BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION a_version();\n"

#: changes whose plan updates every row of a with its own backfill
BACKFILLED = {
    "rename": "ALTER TABLE a RENAME COLUMN a_c0 TO a_c9",
    "retype": "ALTER TABLE a ALTER COLUMN a_c0 TYPE bigint",
    "volatile-default": "ALTER TABLE a ADD COLUMN a_n int NOT NULL DEFAULT (random() * 0)::int",
}

REFUSED = r"the plan's backfill updates every row of a, which fires trigger a_version on public\.a"


def plan(tmp_path: Path, base: str, change: str) -> None:
    tmp_path.mkdir(exist_ok=True)
    Project.create(tmp_path, TABLE + base).plan(change + ";\n")


@pytest.mark.parametrize("change", BACKFILLED.values(), ids=BACKFILLED.keys())
@pytest.mark.parametrize(
    "trigger",
    [
        VERSION,
        "CREATE TRIGGER a_version AFTER INSERT OR UPDATE OR DELETE ON a FOR EACH ROW "
        "EXECUTE FUNCTION a_version();\n",
        "CREATE TRIGGER a_version AFTER UPDATE ON a EXECUTE FUNCTION a_version();\n",
        "CREATE TRIGGER a_version BEFORE UPDATE ON a FOR EACH ROW "
        "WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION a_version();\n",
        # true where version changed, or always (NEW.id > 0 says nothing of a change)
        "CREATE TRIGGER a_version BEFORE UPDATE ON a FOR EACH ROW "
        "WHEN (OLD.version <> NEW.version OR NEW.id > 0) EXECUTE FUNCTION a_version();\n",
        "CREATE TRIGGER a_version BEFORE UPDATE ON a FOR EACH ROW "
        "WHEN (OLD.version = NEW.version) EXECUTE FUNCTION a_version();\n",
    ],
    ids=["before-row", "audit", "statement", "when-whole-row", "when-or-anything", "when-equal"],
)
def test_a_backfill_that_fires_an_update_trigger_is_refused(
    tmp_path: Path, change: str, trigger: str
) -> None:
    with pytest.raises(CannotPlan, match=REFUSED):
        plan(tmp_path, trigger, change)


@pytest.mark.parametrize("change", BACKFILLED.values(), ids=BACKFILLED.keys())
@pytest.mark.parametrize(
    "trigger",
    [
        # fires on insert only
        "CREATE TRIGGER a_version BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION a_version();\n",
        # fires only when version is set
        "CREATE TRIGGER a_version BEFORE UPDATE OF version ON a FOR EACH ROW "
        "EXECUTE FUNCTION a_version();\n",
        VERSION + "ALTER TABLE a DISABLE TRIGGER a_version;\n",
        VERSION + "ALTER TABLE a DISABLE TRIGGER USER;\n",
        VERSION + "DROP TRIGGER a_version ON a;\n",
        VERSION + "DROP TABLE a;\n" + TABLE.split(";")[0] + ";\n",
        # brief item 4: a WHEN that is true only where a column the backfill does not
        # set changed
        "CREATE TRIGGER a_version BEFORE UPDATE ON a FOR EACH ROW "
        "WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION a_version();\n",
        "CREATE TRIGGER a_version AFTER UPDATE ON a FOR EACH ROW WHEN (old.version <> "
        "new.version OR NOT (OLD.id = NEW.id) OR (OLD.id < NEW.id AND NEW.version > 3)) "
        "EXECUTE FUNCTION a_version();\n",
    ],
    ids=[
        "insert-only",
        "update-of-another-column",
        "when-another-column-changed",
        "when-others-changed",
        "disabled",
        "user-disabled",
        "dropped",
        "table-dropped",
    ],
)
def test_a_trigger_the_backfill_does_not_fire_is_no_reason_to_refuse(
    tmp_path: Path, change: str, trigger: str
) -> None:
    plan(tmp_path, trigger, change)


@pytest.mark.parametrize("listed", ["UPDATE OF a_c0", "UPDATE"])
def test_a_trigger_that_names_the_column_is_a_dependent_of_it(tmp_path: Path, listed: str) -> None:
    # PostgreSQL records the trigger's dependency on the columns of its UPDATE OF and
    # WHEN: the contract's DROP COLUMN of the old column would fail (2BP01)
    when = " WHEN (OLD.a_c0 IS DISTINCT FROM NEW.a_c0)" if listed == "UPDATE" else ""
    trigger = (
        f"CREATE TRIGGER a_version BEFORE {listed} ON a FOR EACH ROW{when} "
        "EXECUTE FUNCTION a_version();\n"
    )
    for number, change in enumerate((BACKFILLED["rename"], BACKFILLED["retype"])):
        with pytest.raises(CannotPlan, match=r"trigger a_version on public\.a depends on it"):
            plan(tmp_path / str(number), trigger, change)
    if listed != "UPDATE":  # a column it does not name: planned
        plan(tmp_path / "2", trigger, BACKFILLED["volatile-default"])


def test_a_trigger_enabled_again_or_on_a_renamed_table_is_found(tmp_path: Path) -> None:
    enabled_again = (
        VERSION + "ALTER TABLE a DISABLE TRIGGER ALL;\nALTER TABLE a ENABLE TRIGGER a_version;\n"
    )
    with pytest.raises(CannotPlan, match=REFUSED):
        plan(tmp_path / "1", enabled_again, BACKFILLED["volatile-default"])
    renamed = VERSION + "ALTER TABLE a RENAME TO b;\n"
    with pytest.raises(CannotPlan, match=r"fires trigger a_version on public\.b"):
        plan(tmp_path / "2", renamed, "ALTER TABLE b RENAME COLUMN a_c0 TO a_c9")
    replaced = VERSION + (
        "CREATE OR REPLACE TRIGGER a_version BEFORE INSERT ON a FOR EACH ROW "
        "EXECUTE FUNCTION a_version();\n"
    )
    plan(tmp_path / "3", replaced, BACKFILLED["rename"])


def test_a_trigger_of_a_partition_fires_for_the_partitioned_table(tmp_path: Path) -> None:
    base = (
        "CREATE TABLE p (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);\n"
        "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);\n"
        "CREATE TRIGGER p1_v BEFORE UPDATE ON p1 FOR EACH ROW EXECUTE FUNCTION a_version();\n"
    )
    with pytest.raises(CannotPlan, match=r"fires trigger p1_v on public\.p1"):
        plan(tmp_path, base, "ALTER TABLE p ADD COLUMN n float DEFAULT random()")


def test_the_files_own_update_still_runs_in_batches_under_its_triggers(tmp_path: Path) -> None:
    result = Project.create(tmp_path, TABLE + VERSION).plan("UPDATE a SET a_c0 = 0;\n")

    assert any("-- migrate:backfill table=a key=id" in f.text for f in result.files)
