"""A statement that uses an index an earlier statement creates runs after the plan's
concurrent build of it, not in the expand transaction before it (finding F42: ``CREATE
INDEX i ...; ALTER INDEX i RENAME TO j`` failed 42P01 in the expand, where the naive
file succeeds). It uses the index by name, or a unique index by its columns (a foreign
key that references them, ``INSERT ... ON CONFLICT``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan, Slot, Step
from migrator.plan.planner import PlanResult
from tests.plan.scenario import Project

BASE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c0 int NOT NULL, a_c1 text);\n"
    "CREATE TABLE b (id serial PRIMARY KEY, b_t text);\n"
    "CREATE INDEX b_t_idx ON b (b_t);\n"
)

INDEX = "CREATE INDEX a_i ON a (a_c0)"
UNIQUE = "CREATE UNIQUE INDEX a_u ON a (a_c1)"
UNIQUE_CONSTRAINT = "ALTER TABLE a ADD CONSTRAINT a_u UNIQUE (a_c1)"

#: (what builds the index, the later statement that uses it, the SQL of its step)
USES = {
    "rename-index": (INDEX, "ALTER INDEX a_i RENAME TO a_i2", None),
    "comment-on-index": (INDEX, "COMMENT ON INDEX a_i IS 'x'", None),
    "index-storage": (INDEX, "ALTER INDEX a_i SET (fillfactor = 70)", None),
    "cluster-on": (INDEX, "ALTER TABLE a CLUSTER ON a_i", None),
    "replica-identity": (
        "CREATE UNIQUE INDEX a_u ON a (a_c0)",
        "ALTER TABLE a REPLICA IDENTITY USING INDEX a_u",
        None,
    ),
    "constraint-using-index": (
        UNIQUE,
        "ALTER TABLE a ADD CONSTRAINT a_uc UNIQUE USING INDEX a_u",
        None,
    ),
    "table-referencing-unique-index": (
        UNIQUE,
        "CREATE TABLE c (id int PRIMARY KEY, c_t text REFERENCES a (a_c1))",
        None,
    ),
    "table-referencing-unique-constraint": (
        UNIQUE_CONSTRAINT,
        "CREATE TABLE c (id int PRIMARY KEY, c_t text REFERENCES a (a_c1))",
        None,
    ),
    "insert-on-conflict": (
        UNIQUE,
        "INSERT INTO a (a_c0, a_c1) VALUES (1, 'k') ON CONFLICT (a_c1) DO NOTHING",
        None,
    ),
    # planned, not passed through: b_t has an index, so the key goes in NOT VALID at once
    "planned-foreign-key": (
        UNIQUE,
        "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (b_t) REFERENCES a (a_c1)",
        "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (b_t) REFERENCES a (a_c1) NOT VALID",
    ),
}


def _position(result: PlanResult, predicate: Callable[[Step], bool]) -> int:
    for index, migration in enumerate(result.plan.migrations):
        if any(predicate(step) for step in migration.steps):
            return index
    raise AssertionError("no such step")


@pytest.mark.parametrize("use", sorted(USES))
def test_a_statement_that_uses_the_index_runs_after_its_build(tmp_path: Path, use: str) -> None:
    build, later, planned = USES[use]
    project = Project.create(tmp_path, BASE)
    result = project.plan(f"{build};\n{later};\n")
    built = _position(result, lambda step: "INDEX CONCURRENTLY IF NOT EXISTS a_" in step.sql)
    used = _position(result, lambda step: step.sql == (planned or later))
    assert used > built
    assert result.plan.migrations[used].slot is Slot.EXPAND_LATE


def test_what_follows_a_moved_statement_keeps_the_file_order(tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(
        f"{UNIQUE};\nALTER TABLE a ADD CONSTRAINT a_uc UNIQUE USING INDEX a_u;\n"
        "COMMENT ON CONSTRAINT a_uc ON a IS 'x';\n"
    )
    attach = _position(result, lambda step: "USING INDEX a_u" in step.sql)
    comment = _position(result, lambda step: step.sql.startswith("COMMENT ON CONSTRAINT"))
    assert comment >= attach > 0


@pytest.mark.parametrize(
    "later",
    [
        "ALTER INDEX b_t_idx RENAME TO b_t_idx2",  # another index
        "INSERT INTO a (a_c0, a_c1) VALUES (1, 'k') ON CONFLICT (id) DO NOTHING",  # the key
        "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (b_t) REFERENCES a (a_c1) NOT VALID",
    ],
    ids=["another-index", "another-unique-key", "not-an-index-user"],
)
def test_a_statement_that_does_not_use_the_index_stays_in_the_expand(
    tmp_path: Path, later: str
) -> None:
    build = INDEX if "NOT VALID" in later else UNIQUE
    project = Project.create(tmp_path, BASE)
    result = project.plan(f"{build};\n{later};\n")
    assert result.plan.migrations[_position(result, lambda s: s.sql == later)].slot is Slot.EXPAND


def test_an_index_named_only_in_the_contract_is_not_used_before_it(tmp_path: Path) -> None:
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"names index b_t_idx, which the plan of .* renames"):
        project.plan(
            "DROP INDEX b_t_idx;\nCREATE INDEX b_t_idx ON b (b_t, id);\n"
            "ALTER INDEX b_t_idx SET (fillfactor = 70);\n"
        )


def test_a_replica_identity_before_the_plan_sets_its_columns_not_null_is_refused(
    tmp_path: Path,
) -> None:
    """``REPLICA IDENTITY USING INDEX`` needs NOT NULL columns; the plan of ``SET NOT
    NULL`` sets it only in its contract phase (42809 in the expand after the build)."""
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"replica identity, which needs the index's columns"):
        project.plan(
            "ALTER TABLE a ALTER COLUMN a_c1 SET NOT NULL;\n"
            f"{UNIQUE};\nALTER TABLE a REPLICA IDENTITY USING INDEX a_u;\n"
        )


def test_a_change_that_uses_what_runs_after_the_builds_follows_it(tmp_path: Path) -> None:
    """The new table waits for the unique index it references; the foreign key to the
    new table (planned NOT VALID at once: b has an index on b_t) waits for the table."""
    project = Project.create(tmp_path, BASE)
    result = project.plan(
        f"{UNIQUE};\n"
        "CREATE TABLE c (id text PRIMARY KEY, c_t text REFERENCES a (a_c1));\n"
        "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (b_t) REFERENCES c (id);\n"
    )
    table = _position(result, lambda step: step.sql.startswith("CREATE TABLE c"))
    key = _position(result, lambda step: "ADD CONSTRAINT b_fk" in step.sql)
    assert key >= table > 0
    assert result.plan.migrations[key].slot is Slot.EXPAND_LATE


@pytest.mark.parametrize(
    "build",
    [INDEX, "CREATE INDEX CONCURRENTLY a_i ON a (a_c0)"],
    ids=["planned-build", "concurrent-as-written"],
)
def test_an_index_build_on_what_runs_after_the_builds_is_refused(
    tmp_path: Path, build: str
) -> None:
    """``ALTER INDEX`` (or any statement after a ``CONCURRENTLY`` one) runs after the
    builds, and so does the ``ADD COLUMN`` after it; an index on that column would be
    built concurrently before the column exists."""
    project = Project.create(tmp_path, BASE)
    later = "ALTER INDEX a_i RENAME TO a_i2;\n" if build == INDEX else ""
    with pytest.raises(CannotPlan, match=r"`CREATE INDEX b_n_idx ON b \(b_n\)` uses what"):
        project.plan(
            f"{build};\n{later}ALTER TABLE b ADD COLUMN b_n int;\n"
            "CREATE INDEX b_n_idx ON b (b_n);\n"
        )


@pytest.mark.parametrize(
    "later",
    [
        "CREATE TABLE c (id int PRIMARY KEY, c_k int REFERENCES k)",
        "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (id) REFERENCES k",
    ],
    ids=["new-table", "existing-table"],
)
def test_a_foreign_key_to_a_primary_key_attached_in_the_contract_is_refused(
    tmp_path: Path, later: str
) -> None:
    """``ADD PRIMARY KEY``: the plan builds its unique index in the expand phase and
    attaches the key only in the contract; a foreign key without columns references the
    primary key itself (42704 in the expand where the naive file succeeds)."""
    project = Project.create(tmp_path, BASE + "CREATE TABLE k (code int NOT NULL);\n")
    with pytest.raises(CannotPlan, match=r"references the primary key of k, which the plan"):
        project.plan(f"ALTER TABLE k ADD PRIMARY KEY (code);\n{later};\n")


def test_a_foreign_key_to_the_columns_of_a_new_primary_key_waits_for_its_index(
    tmp_path: Path,
) -> None:
    project = Project.create(tmp_path, BASE + "CREATE TABLE k (code int NOT NULL);\n")
    result = project.plan(
        "ALTER TABLE k ADD PRIMARY KEY (code);\n"
        "CREATE TABLE c (id int PRIMARY KEY, c_k int REFERENCES k (code));\n"
    )
    built = _position(result, lambda step: "INDEX CONCURRENTLY IF NOT EXISTS k_" in step.sql)
    assert _position(result, lambda step: step.sql.startswith("CREATE TABLE c")) > built


def test_two_indexes_rebuilt_under_their_names_are_planned(tmp_path: Path) -> None:
    # F-hostile-8 (lemmy 0134): the second build was refused as coming after the first,
    # which the plan renames into place in its contract, "both name post_aggregates";
    # two index builds are independent of each other
    base = (
        "CREATE TABLE p (id int PRIMARY KEY, score int, necro timestamptz);\n"
        "CREATE INDEX idx_a ON p (score);\nCREATE INDEX idx_b ON p (necro);\n"
    )
    result = Project.create(tmp_path, base).plan(
        "DROP INDEX idx_a, idx_b;\nCREATE INDEX idx_a ON p (score DESC, necro DESC);\n"
        "CREATE INDEX idx_b ON p (necro DESC);\n"
    )

    sqls = [step.sql for m in result.plan.migrations for step in m.steps]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_b_new ON p (necro DESC)" in sqls
    renames = [s for s in sqls if s.startswith("ALTER INDEX")]
    assert renames == [
        "ALTER INDEX IF EXISTS idx_a_new RENAME TO idx_a",
        "ALTER INDEX IF EXISTS idx_b_new RENAME TO idx_b",
    ]
    assert sqls.index("DROP INDEX CONCURRENTLY IF EXISTS idx_b") < sqls.index(renames[1])
