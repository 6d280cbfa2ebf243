"""``ATTACH PARTITION`` and ``DETACH PARTITION [CONCURRENTLY | FINALIZE]`` are statements
the planner knows (plandiff F54 asked what it does with them): they pass through in the
expand phase, ``CONCURRENTLY`` in a migration without a transaction (PostgreSQL refuses
it in one: a transactional plan failed with 25001), and, on a table running code uses,
as a change of what its writes do from the moment they commit (where a row in the
partition's bounds goes): committed last before the deploy point, or refused when a
later migration runs before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project, apply_all, fetch, run

BASE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c0 bigint);\n"
    "CREATE TABLE b (id int NOT NULL, b_c0 bigint) PARTITION BY LIST (id);\n"
    "CREATE TABLE b_p1 PARTITION OF b FOR VALUES IN (1, 4, 7);\n"
    "CREATE TABLE b_p2 PARTITION OF b DEFAULT;\n"
    "CREATE TABLE b_p3 (id int NOT NULL, b_c0 bigint);\n"
    # no default partition: PostgreSQL detaches concurrently only then
    "CREATE TABLE d (id int NOT NULL) PARTITION BY LIST (id);\n"
    "CREATE TABLE d_p1 PARTITION OF d FOR VALUES IN (1);\n"
    "CREATE TABLE d_p2 PARTITION OF d FOR VALUES IN (2);\n"
)

CHANGES = {
    "detach": ("ALTER TABLE b DETACH PARTITION b_p1;\n", "transaction"),
    "detach-concurrently": (
        "ALTER TABLE d DETACH PARTITION d_p1 CONCURRENTLY;\n",
        "no-transaction",
    ),
    "detach-finalize": ("ALTER TABLE b DETACH PARTITION b_p1 FINALIZE;\n", "transaction"),
    "attach": ("ALTER TABLE b ATTACH PARTITION b_p3 FOR VALUES IN (100);\n", "transaction"),
}


@pytest.mark.parametrize("case", sorted(CHANGES))
def test_a_partition_change_is_one_migration_in_the_mode_it_needs(
    tmp_path: Path, case: str
) -> None:
    change, mode = CHANGES[case]
    plan = Project.create(tmp_path, BASE).plan(change).plan
    (migration,) = plan.migrations
    assert [step.sql for step in migration.steps] == [change.strip().rstrip(";")]
    assert migration.mode == mode
    (planned,) = plan.changes
    assert planned.changes_old_inserts


def test_a_partition_change_of_a_table_the_change_creates_is_no_changes_old_inserts(
    tmp_path: Path,
) -> None:
    change = (
        "CREATE TABLE c (id int NOT NULL) PARTITION BY LIST (id);\n"
        "CREATE TABLE c_p1 PARTITION OF c FOR VALUES IN (1);\n"
        "ALTER TABLE c DETACH PARTITION c_p1;\n"
    )
    plan = Project.create(tmp_path, BASE).plan(change).plan
    assert not any(planned.changes_old_inserts for planned in plan.changes)


def test_a_detach_runs_after_the_concurrent_builds_before_the_deploy(tmp_path: Path) -> None:
    plan = Project.create(tmp_path, BASE).plan(
        "CREATE INDEX a_idx2 ON a (a_c0);\nALTER TABLE b DETACH PARTITION b_p1;\n"
    )
    steps = [step.sql for migration in plan.plan.migrations for step in migration.steps]
    assert steps[-1] == "ALTER TABLE b DETACH PARTITION b_p1"


def test_a_detach_before_a_backfill_is_refused(tmp_path: Path) -> None:
    """Old code's inserts of a row in b_p1's bounds would go to b_p2 from the detach on,
    while the batches run, where the naive file puts them in b_p1 until it runs."""
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"DETACH PARTITION b_p1` changes what running code"):
        project.plan("ALTER TABLE b DETACH PARTITION b_p1;\nUPDATE a SET a_c0 = 1;\n")


def test_a_concurrent_detach_plan_runs_on_the_server(database_url: str, tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    project.plan(CHANGES["detach-concurrently"][0])

    async def detached() -> list[tuple[object, ...]]:
        await apply_all(database_url, project.directory)
        return await fetch(
            database_url,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'd'::regclass ORDER BY 1",
        )

    assert run(detached()) == [("d_p2",)]
