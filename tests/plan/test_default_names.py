"""An index or constraint written without a name is planned under the name PostgreSQL
would give it (finding F-hostile-1): ``CREATE INDEX ON a (c0)`` when ``a_c0_idx``
exists is ``a_c0_idx1`` on the server, and the plan's ``CREATE INDEX CONCURRENTLY IF NOT
EXISTS a_c0_idx`` skipped the build (the other index has the name), then its down
dropped that other index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan
from migrator.plan.planner import PlanResult
from migrator.sql.names import MAX_IDENTIFIER_BYTES
from tests.plan.scenario import Project, execute, fetch, run

BASE = (
    "CREATE TABLE a (id bigserial PRIMARY KEY, c0 int, c1 text);\n"
    "CREATE INDEX ON a (c0);\n"  # a_c0_idx
    "ALTER TABLE a ADD UNIQUE (c1);\n"  # a_c1_key
)

#: a 60-byte table name: a default name is cut before its suffix and number
LONG = "t" * 60


def plan(root: Path, base: str, change: str) -> PlanResult:
    """``change`` planned on a project of its own (a plan's files join the project's
    migrations)."""
    root.mkdir(exist_ok=True)
    return Project.create(root, base).plan(change)


def planned_sql(result: PlanResult) -> str:
    return "".join(f.text for f in result.files if ".up." in f.path.name)


def built_indexes(result: PlanResult) -> list[str]:
    return re.findall(r"INDEX CONCURRENTLY IF NOT EXISTS (\S+) ON", planned_sql(result))


def added_constraints(result: PlanResult) -> list[str]:
    return re.findall(r"ADD CONSTRAINT (\S+) ", planned_sql(result))


def test_a_second_unnamed_index_on_a_column_gets_the_next_number(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan("CREATE INDEX ON a (c0) WHERE c0 > 10;\n")

    assert built_indexes(result) == ["a_c0_idx1"]
    down = "".join(f.text for f in result.files if ".down." in f.path.name)
    assert "a_c0_idx1" in down and not re.search(r"\ba_c0_idx\b", down)


def test_two_unnamed_indexes_of_one_change_are_numbered_in_file_order(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan(
        "CREATE INDEX ON a (c0, c1);\nCREATE INDEX ON a (c0, c1) WHERE c0 > 0;\n"
        "CREATE INDEX ON a (c0);\n"
    )

    assert built_indexes(result) == ["a_c0_c1_idx", "a_c0_c1_idx1", "a_c0_idx1"]


def test_a_unique_index_is_named_idx_and_a_unique_constraint_key(tmp_path: Path) -> None:
    unique_index = plan(tmp_path / "1", BASE, "CREATE UNIQUE INDEX ON a (c1);\n")
    assert built_indexes(unique_index) == ["a_c1_idx"]
    constraint = plan(tmp_path / "2", BASE, "ALTER TABLE a ADD UNIQUE (c1);\n")
    assert added_constraints(constraint) == ["a_c1_key1"]
    assert built_indexes(constraint) == ["a_c1_key1"]


def test_expressions_and_included_columns_are_in_the_name(tmp_path: Path) -> None:
    result = Project.create(tmp_path, BASE).plan(
        "CREATE INDEX ON a (lower(c1));\nCREATE INDEX ON a ((c0 + 1));\n"
        "CREATE INDEX ON a ((c1::varchar)) INCLUDE (c0);\nCREATE INDEX ON a (c0, c0);\n"
    )

    assert built_indexes(result) == ["a_lower_idx", "a_expr_idx", "a_c1_c0_idx", "a_c0_c01_idx"]


def test_a_check_and_a_foreign_key_take_the_next_free_name(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path,
        BASE + "CREATE TABLE p (id int PRIMARY KEY);\n"
        "ALTER TABLE a ADD CHECK (c0 > 0);\n"  # a_c0_check
        "ALTER TABLE a ADD FOREIGN KEY (c0) REFERENCES p;\n",  # a_c0_fkey
    )
    result = project.plan(
        "ALTER TABLE a ADD CHECK (c0 < 100);\nALTER TABLE a ADD FOREIGN KEY (c0) REFERENCES p;\n"
    )

    assert added_constraints(result) == ["a_c0_check1", "a_c0_fkey1"]


def test_a_long_table_name_is_cut_before_the_suffix_and_its_number(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path,
        f"CREATE TABLE {LONG} (id int PRIMARY KEY, c0 int);\nCREATE INDEX ON {LONG} (c0);\n",
    )

    (name,) = built_indexes(project.plan(f"CREATE INDEX ON {LONG} (c0) WHERE c0 > 0;\n"))

    assert len(name.encode()) == MAX_IDENTIFIER_BYTES
    assert name == LONG[: MAX_IDENTIFIER_BYTES - len("_c0_idx1")] + "_c0_idx1"


def test_a_name_the_plan_made_up_for_a_foreign_keys_index_is_not_reused(
    tmp_path: Path,
) -> None:
    # the foreign key's validation gets an index r_p_idx the naive SQL does not build;
    # the later unnamed index would be r_p_idx on the server: refused, not skipped
    base = "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE r (id int, p int);\n"
    foreign_key = "ALTER TABLE r ADD FOREIGN KEY (p) REFERENCES p;\n"
    assert built_indexes(plan(tmp_path / "1", base, foreign_key)) == ["r_p_idx"]

    with pytest.raises(CannotPlan, match=r"create the index r_p_idx, but that name is taken"):
        plan(tmp_path / "2", base, foreign_key + "CREATE INDEX ON r (p) WHERE p > 0;\n")


NAMED_BY_THE_SERVER = (
    "CREATE INDEX ON a (c0) WHERE c0 > 10;\n"
    "CREATE UNIQUE INDEX ON a (c1);\n"
    "ALTER TABLE a ADD UNIQUE (c1);\n"
    "CREATE INDEX ON a (lower(c1)) INCLUDE (c0);\n"
    "CREATE INDEX ON a (coalesce(c1, 'x'), (c0::text));\n"
    "ALTER TABLE a ADD CHECK (c0 > -1);\n"
    f"CREATE INDEX ON {LONG} (c0) WHERE c0 > 0;\n"
    f"ALTER TABLE {LONG} ADD UNIQUE (c0);\n"
)


def test_the_planned_names_are_the_servers(tmp_path: Path, database_url: str) -> None:
    base = (
        BASE + f"CREATE TABLE {LONG} (id int PRIMARY KEY, c0 int);\nCREATE INDEX ON {LONG} (c0);\n"
    )
    result = Project.create(tmp_path, base).plan(NAMED_BY_THE_SERVER)
    planned = set(built_indexes(result)) | set(added_constraints(result))

    run(execute(database_url, base))
    before = _names(database_url)
    run(execute(database_url, NAMED_BY_THE_SERVER))
    server = _names(database_url) - before

    assert planned == server


def _names(dsn: str) -> set[str]:
    rows = run(
        fetch(
            dsn,
            "SELECT relname FROM pg_class WHERE relkind = 'i' AND relnamespace = "
            "'public'::regnamespace UNION SELECT conname FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace",
        )
    )
    return {str(name) for (name,) in rows}


@pytest.mark.parametrize("unique", [False, True])
def test_an_unnamed_index_taking_a_dropped_ones_name_is_built_aside_then_renamed(
    tmp_path: Path, unique: bool
) -> None:
    # the naive SQL gives the new index the dropped one's name; the plan keeps the old
    # index until its contract, so it builds the new one as a_c0_idx_new first
    kind = "UNIQUE INDEX" if unique else "INDEX"
    result = plan(tmp_path / "1", BASE, f"DROP INDEX a_c0_idx;\nCREATE {kind} ON a (c0, id);\n")

    assert built_indexes(result) == ["a_c0_id_idx"]
    drop = plan(tmp_path / "2", BASE, f"DROP INDEX a_c0_idx;\nCREATE {kind} ON a (c0);\n")
    assert built_indexes(drop) == ["a_c0_idx_new"]
    assert "ALTER INDEX IF EXISTS a_c0_idx_new RENAME TO a_c0_idx" in planned_sql(drop)
