"""plandiff F36: a change the plan commits in an expand migration, followed by a
condition that fails in a later migration (a VALIDATE, a SET NOT NULL, a unique index
build): the naive file fails as a whole and changes nothing, the plan used to keep the
committed change (a widened column). The plan's first migration now checks the rows
first and fails with the naive SQLSTATE, nothing changed; where it cannot check them
there, the plan is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import MigrationFailed
from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import (
    Project,
    apply_all,
    execute,
    fetch,
    naive_error,
    run,
    schema_difference,
)

BASE = """
CREATE TABLE p (id int PRIMARY KEY);
CREATE TABLE a (id serial PRIMARY KEY, c bigint, w varchar(20), t text NOT NULL DEFAULT '',
                ref int);
"""

SEED = """
INSERT INTO p (id) SELECT g FROM generate_series(1, 50) g;
INSERT INTO a (c, w, t, ref)
SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE g END, 'v' || g,
       CASE WHEN g = 7 THEN 'x' ELSE g::text END,
       CASE WHEN g = 60 THEN 999 ELSE g % 50 + 1 END
FROM generate_series(1, 80) g;
"""

PARTITIONED = """
CREATE TABLE a (id int NOT NULL, c bigint, w varchar(20),
                g numeric(10, 2) GENERATED ALWAYS AS (id * 1.5) STORED, PRIMARY KEY (id))
PARTITION BY RANGE (id);
CREATE TABLE a_p1 PARTITION OF a FOR VALUES FROM (MINVALUE) TO (40);
CREATE TABLE a_p2 PARTITION OF a FOR VALUES FROM (40) TO (MAXVALUE);
"""

PARTITIONED_SEED = """
INSERT INTO a (id, c, w)
SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE g END, 'v' || g FROM generate_series(1, 80) g;
"""

DATA = "SELECT id, c::text, w::text FROM a ORDER BY id"

WIDEN = "ALTER TABLE a ALTER COLUMN w TYPE varchar(40);\n"


def _fails_with_nothing_changed(
    base: str, seed: str, change: str, sqlstate: str, naive: str, planned: str, root: Path
) -> None:
    project = Project.create(root, base)
    result = project.plan(change)
    first = result.plan.migrations[0]
    assert first.slot is Slot.EXPAND
    assert first.steps[0].sql.startswith("DO $migrator_check$")

    async def scenario() -> None:
        await execute(naive, base + seed)
        assert await naive_error(naive, change) == sqlstate
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, seed)
        later = {int(v.version_text) for v in result.versions}
        with pytest.raises(MigrationFailed, match="nothing was changed") as failed:
            await apply_all(planned, project.directory, versions=later)
        assert f"SQLSTATE {sqlstate}" in str(failed.value)
        assert await fetch(planned, DATA) == await fetch(naive, DATA)
        assert await schema_difference(naive, planned, set()) == []

    run(scenario())


@pytest.mark.parametrize(
    ("change", "sqlstate"),
    [
        pytest.param(
            "ALTER TABLE a ADD CONSTRAINT a_check1 CHECK (c IS NOT NULL);\n" + WIDEN,
            "23514",
            id="check-then-widen",
        ),
        pytest.param(
            WIDEN + "ALTER TABLE a ADD CONSTRAINT a_check1 CHECK (c IS NOT NULL);\n",
            "23514",
            id="widen-then-check",
        ),
        pytest.param(
            "ALTER TABLE a ADD CONSTRAINT a_ref_fkey FOREIGN KEY (ref) REFERENCES p (id);\n"
            + WIDEN,
            "23503",
            id="foreign-key-then-widen",
        ),
        pytest.param(
            "ALTER TABLE a ALTER COLUMN t DROP NOT NULL;\n"
            "ALTER TABLE a ADD CONSTRAINT a_c_present CHECK (c IS NOT NULL);\n",
            "23514",
            id="drop-not-null-then-check",
        ),
        # (widen, add a unique key, then an UPDATE of its column: refused at plan time,
        # tests/plan/test_update_of_a_unique_column.py)
        pytest.param(
            WIDEN + "UPDATE a SET c = 1 WHERE id > 40;\n"
            "ALTER TABLE a ALTER COLUMN c SET NOT NULL;\n",
            "23502",
            id="widen-then-data-change-then-set-not-null",
        ),
    ],
)
def test_a_committed_change_waits_for_a_condition_that_fails_later(
    change: str, sqlstate: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    _fails_with_nothing_changed(
        BASE, SEED, change, sqlstate, other_database_url, database_url, tmp_path
    )


def test_a_partitioned_table_with_a_generated_column_retyped(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Found first as a check then a stored generated column's retype on a partitioned
    table (seed 4408)."""
    change = (
        "ALTER TABLE a ADD CONSTRAINT a_check1 CHECK (c IS NOT NULL);\n"
        "ALTER TABLE a ALTER COLUMN g TYPE numeric(12, 2);\n"
    )
    _fails_with_nothing_changed(
        PARTITIONED,
        PARTITIONED_SEED,
        change,
        "23514",
        other_database_url,
        database_url,
        tmp_path,
    )


def test_the_plan_runs_on_when_the_rows_satisfy_the_condition(
    database_url: str, tmp_path: Path
) -> None:
    """The check changes nothing: with rows that satisfy the condition the whole plan
    runs, the column widened and the check validated."""
    project = Project.create(tmp_path, BASE)
    result = project.plan("ALTER TABLE a ADD CONSTRAINT a_check1 CHECK (c IS NOT NULL);\n" + WIDEN)
    later = {int(v.version_text) for v in result.versions}

    async def scenario() -> None:
        await apply_all(database_url, project.directory, versions={1})
        await execute(database_url, SEED + "UPDATE a SET c = 0 WHERE c IS NULL;")
        await apply_all(database_url, project.directory, versions=later)
        assert await fetch(
            database_url,
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_name = 'a' AND column_name = 'w'",
        ) == [(40,)]
        assert await fetch(
            database_url, "SELECT convalidated FROM pg_constraint WHERE conname = 'a_check1'"
        ) == [(True,)]

    run(scenario())


def test_a_single_condition_gets_no_extra_check(tmp_path: Path) -> None:
    """Nothing else commits before its VALIDATE: no check is added (the VALIDATE itself
    is the check)."""
    project = Project.create(tmp_path, BASE)
    result = project.plan("ALTER TABLE a ADD CONSTRAINT a_check1 CHECK (c IS NOT NULL);\n")
    assert not any("$migrator_check$" in s.sql for m in result.plan.migrations for s in m.steps)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(
            WIDEN + "ALTER TABLE a ADD COLUMN n int DEFAULT 0;\n"
            "ALTER TABLE a ADD CONSTRAINT a_n_check CHECK (n >= 0);\n",
            "names a table or column the file creates or changes",
            id="condition-on-a-new-column",
        ),
        pytest.param(
            "ALTER TABLE a ALTER COLUMN t DROP NOT NULL;\n"
            "ALTER TABLE a ADD CONSTRAINT a_ref_fkey FOREIGN KEY (ref) REFERENCES p (id) "
            "MATCH FULL;\n",
            "it is a foreign key",
            id="match-full-foreign-key",
        ),
    ],
)
def test_a_condition_that_cannot_be_checked_first_is_refused(
    change: str, reason: str, tmp_path: Path
) -> None:
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match="cannot check it before anything commits") as refused:
        project.plan(change)
    assert reason in refused.value.message
    assert "commits `ALTER TABLE a ALTER COLUMN" in refused.value.message


def test_additions_before_a_condition_on_a_new_column_are_planned(tmp_path: Path) -> None:
    """Only additions commit before it (a new column and its check): planned as before,
    without a check (it could not name the column before it exists)."""
    project = Project.create(tmp_path, BASE)
    result = project.plan(
        "ALTER TABLE a ADD COLUMN n int DEFAULT 0;\n"
        "ALTER TABLE a ADD CONSTRAINT a_n_check CHECK (n >= 0);\n"
    )
    assert not any("$migrator_check$" in s.sql for m in result.plan.migrations for s in m.steps)


def test_a_not_null_the_deploy_may_fill_is_left_to_the_deploy(tmp_path: Path) -> None:
    """SET NOT NULL waits for the deploy of code that writes the column (and whatever
    fills the old rows then, corpus case set-not-null-twice): its rows are not checked
    before the expand commits; with only additions (or other NOT NULLs) before it, it
    is planned so."""
    project = Project.create(tmp_path, BASE)
    result = project.plan(
        "ALTER TABLE a ADD COLUMN n int;\n"
        "ALTER TABLE a ALTER COLUMN w SET NOT NULL;\n"
        "ALTER TABLE a ALTER COLUMN c SET NOT NULL;\n"
    )
    assert not any("$migrator_check$" in s.sql for m in result.plan.migrations for s in m.steps)
    assert any(m.deploy_before for m in result.plan.migrations)


@pytest.mark.parametrize(
    "committed",
    [
        pytest.param(WIDEN, id="widen-in-place"),
        pytest.param("ALTER TABLE p ADD COLUMN n int;\n", id="addition-planned"),
        pytest.param("ALTER TABLE a ALTER COLUMN t SET DEFAULT 'x';\n", id="default-change"),
    ],
)
def test_a_not_null_left_to_the_deploy_after_a_committed_change_is_refused(
    committed: str, tmp_path: Path
) -> None:
    """plandiff F48: a change to something that exists commits in the expand, the NOT
    NULL left to the deploy fails its VALIDATE later where the naive file changes
    nothing (``SET NOT NULL`` on NULL rows, then a generated column widened): refused,
    naming both statements, in either file order."""
    not_null = "ALTER TABLE a ALTER COLUMN c SET NOT NULL;\n"
    for order, change in enumerate((not_null + committed, committed + not_null)):
        (tmp_path / str(order)).mkdir()
        project = Project.create(tmp_path / str(order), BASE)
        if "ADD COLUMN" in committed:  # an addition changes nothing a client relies on
            assert any(m.deploy_before for m in project.plan(change).plan.migrations)
            continue
        with pytest.raises(CannotPlan, match="enforced only after the deploy") as refused:
            project.plan(change)
        assert "`ALTER TABLE a ALTER COLUMN c SET NOT NULL`" in refused.value.message
        assert f"commits `{committed.rstrip(';' + chr(10))}" in refused.value.message
