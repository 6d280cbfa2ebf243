"""Several subcommands in one ``ALTER TABLE``: each is planned against the schema the
ones before it leave, in the order PostgreSQL applies them (the drops first), and a
subcommand that needs what the plan removes only in the contract phase (a name, the
primary key) follows it there, or is refused with the reason (exit 1), never with a
wrong "already has" error."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.model import CannotPlan, NotInSchema
from migrator.plan.planner import PlanResult
from tests.helpers import run_cli
from tests.plan.scenario import Project

#: the table of the reproductions: ``id`` is the key and has no default
KEY_WITHOUT_DEFAULT = "CREATE TABLE t (id int PRIMARY KEY, uuid uuid UNIQUE NOT NULL, score int);\n"
#: as lemmy's tables: ``id`` is a serial key
SERIAL_KEY = "CREATE TABLE t (id serial PRIMARY KEY, uuid uuid UNIQUE NOT NULL, score int);\n"

MOVE_KEY = "ALTER TABLE t DROP COLUMN id, ADD PRIMARY KEY (uuid), DROP CONSTRAINT t_uuid_key;\n"
REPLACE_COLUMN = (
    "ALTER TABLE t DROP COLUMN score, ADD COLUMN score boolean DEFAULT false NOT NULL;\n"
)


def _migrate_plan(tmp_path: Path, base: str, change: str) -> tuple[int, str, str]:
    """``migrate --dir m plan --print change.sql``, as the reproductions run it."""
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "001_t.up.sql").write_text(base)
    (directory / "001_t.down.sql").write_text("DROP TABLE t;\n")
    (tmp_path / "change.sql").write_text(change)
    result = run_cli("--dir", "m", "plan", "--print", "change.sql", cwd=tmp_path)
    return result.code, result.stdout, result.stderr


def _project(root: Path, base: str) -> Project:
    root.mkdir(exist_ok=True)
    return Project.create(root, base)


def _migrations(result: PlanResult) -> list[tuple[str, list[str]]]:
    """Each planned migration's phase and statements (validity checks left out)."""
    return [
        (
            version.rendered.migration.phase,
            [s.sql for s in version.rendered.migration.steps if not s.sql.startswith("DO $$")],
        )
        for version in result.versions
    ]


def test_dropping_a_key_column_without_default_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    code, out, err = _migrate_plan(tmp_path, KEY_WITHOUT_DEFAULT, MOVE_KEY)

    assert code == 1, out + err
    assert "already has" not in err
    assert err.startswith("error: change.sql:1: t.id is in the primary key and has no default")
    assert "a primary key column cannot DROP NOT NULL" in err
    assert "give id a default or an identity first" in err


def test_a_column_dropped_and_added_again_passes_through_as_written(tmp_path: Path) -> None:
    """One catalog-only statement that resets the column, which is never missing
    (finding F-hostile-10: planned as a drop in the contract and an add after it, new
    code's writes between the deploy and the contract went to the old column and were
    dropped with it)."""
    code, out, err = _migrate_plan(tmp_path, KEY_WITHOUT_DEFAULT, REPLACE_COLUMN)

    assert code == 0, out + err
    assert "every statement is safe as written; it passes through unchanged" in out
    assert "1. migrate up --phase expand   (002)" in out
    project = _project(tmp_path / "p", KEY_WITHOUT_DEFAULT)
    result = project.plan(REPLACE_COLUMN)
    assert _migrations(result) == [("expand", [REPLACE_COLUMN.strip().rstrip(";")])]
    (change,) = result.plan.changes
    assert change.changes_old_inserts  # a moment change: the last before the deploy point


def test_a_reset_column_with_dependents_is_refused_as_the_naive_drop_fails(
    tmp_path: Path,
) -> None:
    project = Project.create(
        tmp_path, KEY_WITHOUT_DEFAULT + "CREATE VIEW v AS SELECT score FROM t;\n"
    )
    with pytest.raises(CannotPlan, match=r"view public\.v depends on it"):
        project.plan(REPLACE_COLUMN)


def test_the_key_moves_in_the_contract_after_the_old_one_is_dropped(tmp_path: Path) -> None:
    """The new key's index is built under another name: ``t_pkey`` is the old key's
    until the contract drops ``id``; ``USING INDEX`` gives it the name. The unique
    constraint it replaces goes in the contract too, so ``uuid`` stays unique."""
    result = Project.create(tmp_path, SERIAL_KEY).plan(MOVE_KEY)

    assert [c.recipe for c in result.plan.changes] == [
        "drop column",
        "drop unique",
        "add primary key",
    ]
    assert _migrations(result) == [
        ("expand", ["CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_pkey_new ON t (uuid)"]),
        ("contract", ["ALTER TABLE t DROP COLUMN IF EXISTS id"]),
        ("contract", ["ALTER TABLE t DROP CONSTRAINT IF EXISTS t_uuid_key"]),
        ("contract", ["ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey_new"]),
    ]
    key_down = result.versions[-1].files[1].text
    assert key_down.rstrip().endswith("ALTER INDEX IF EXISTS t_pkey_rebuilt RENAME TO t_pkey_new;")


def test_subcommands_are_judged_in_the_order_postgresql_applies_them(tmp_path: Path) -> None:
    """Three subcommands, the add written before the drop of the same name: PostgreSQL
    drops first; the column dropped and added again is reset in one transaction, the
    other column added with it."""
    result = Project.create(tmp_path, SERIAL_KEY).plan(
        "ALTER TABLE t ADD COLUMN score boolean DEFAULT false NOT NULL, DROP COLUMN score, "
        "ADD COLUMN note text;\n"
    )

    assert _migrations(result) == [
        (
            "expand",
            [
                "ALTER TABLE t DROP COLUMN score",
                "ALTER TABLE t ADD COLUMN score boolean DEFAULT FALSE NOT NULL",
                "ALTER TABLE t ADD COLUMN note text",
            ],
        ),
    ]


def test_separate_statements_plan_like_one_statement(tmp_path: Path) -> None:
    two = _project(tmp_path / "two", SERIAL_KEY).plan(
        "ALTER TABLE t DROP COLUMN score;\n"
        "ALTER TABLE t ADD COLUMN score boolean DEFAULT false NOT NULL;\n"
    )

    assert _migrations(two) == [
        (
            "expand",
            [
                "ALTER TABLE t DROP COLUMN score",
                "ALTER TABLE t ADD COLUMN score boolean DEFAULT FALSE NOT NULL",
            ],
        )
    ]
    assert any(change.changes_old_inserts for change in two.plan.changes)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            "ALTER TABLE t DROP COLUMN score, ADD COLUMN score boolean;\nUPDATE t SET score = true",
            r"this UPDATE fills score, which the change adds to t",
        ),
        (
            "ALTER TABLE t DROP COLUMN score;\n"
            "ALTER TABLE t ADD COLUMN score int CHECK (score > 0)",
            "needs more than a catalog change",
        ),
        (
            "ALTER TABLE t DROP COLUMN score, ADD COLUMN score uuid NOT NULL "
            "DEFAULT gen_random_uuid()",
            "needs more than a catalog change",
        ),
        (
            "ALTER TABLE t DROP COLUMN score, ADD COLUMN score int CHECK (score > 0)",
            "needs more than a catalog change",
        ),
    ],
)
def test_what_depends_on_a_contract_only_change_is_refused_with_the_reason(
    tmp_path: Path, change: str, reason: str
) -> None:
    project = Project.create(tmp_path, SERIAL_KEY + "CREATE INDEX t_score_idx ON t (score);\n")

    with pytest.raises(CannotPlan, match=reason) as refused:
        project.plan(change + ";\n")

    assert int(refused.value.exit_code) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            "ALTER TABLE t DROP COLUMN score;\nCREATE INDEX t_score_idx ON t (uuid, score)",
            "column score of t is dropped earlier in the change",
        ),
    ],
)
def test_an_index_on_a_column_the_change_drops_is_a_mistake_in_the_change(
    tmp_path: Path, change: str, reason: str
) -> None:
    """PostgreSQL would refuse the index: the change file is wrong (exit 2), and the
    plan must not build it while the column is still there."""
    project = Project.create(tmp_path, SERIAL_KEY + "CREATE INDEX t_score_idx ON t (score);\n")

    with pytest.raises(NotInSchema, match=reason) as refused:
        project.plan(change + ";\n")

    assert int(refused.value.exit_code) == 2


def test_dropping_a_unique_constraint_waits_for_the_contract_and_its_down_rebuilds_it(
    tmp_path: Path,
) -> None:
    result = Project.create(tmp_path, SERIAL_KEY).plan(
        "ALTER TABLE t DROP CONSTRAINT t_uuid_key;\n"
    )

    (version,) = result.versions
    assert version.rendered.migration.phase == "contract"
    assert "no longer relies on t_uuid_key of t" in version.rendered.migration.deploy_before
    down = version.files[1].text
    assert "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_uuid_key ON t (uuid);" in down
    assert "ALTER TABLE t ADD CONSTRAINT t_uuid_key UNIQUE USING INDEX t_uuid_key;" in down


@pytest.mark.parametrize(
    "key",
    [
        "ALTER TABLE t ADD CONSTRAINT t_uuid_key UNIQUE USING INDEX t_uuid_idx;\n",
        'ALTER TABLE t ADD CONSTRAINT "T pk" PRIMARY KEY USING INDEX "t uuid";\n',
    ],
)
def test_a_key_made_from_an_index_is_a_fact_not_a_crash(tmp_path: Path, key: str) -> None:
    """A table whose key came from ``USING INDEX`` (as the planner's own plans build
    keys) crashed every later plan of that table with a ParseError traceback."""
    index = '"t uuid"' if '"t uuid"' in key else "t_uuid_idx"
    base = (
        "CREATE TABLE t (id int NOT NULL, uuid uuid NOT NULL);\n"
        f"CREATE UNIQUE INDEX {index} ON t (uuid);\n" + key
    )
    code, out, err = _migrate_plan(tmp_path, base, "ALTER TABLE t RENAME TO things;\n")
    assert code == 0, err
    assert "Traceback" not in err and "rename table" in out
