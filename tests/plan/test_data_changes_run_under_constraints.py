"""A data change the plan runs in batches runs under the table's constraints: the naive
``DELETE`` of rows a foreign key still references (NO ACTION) fails and deletes
nothing; the batches deleted the unreferenced rows of the first batches, committed,
before one reached a referenced row. So the plan checks the rows first, as the data
change will leave them, against the table's NOT NULL columns, checks and unique keys it
writes, and the foreign keys that reference the rows it deletes or the keys it changes:
it fails with the naive SQLSTATE, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import MigrationFailed
from migrator.plan.model import CannotPlan, Slot
from tests.plan.scenario import Project, apply_all, execute, fetch, naive_error, run

BASE = """
CREATE TABLE a (id serial PRIMARY KEY, n bigint NOT NULL, code varchar(20) UNIQUE,
                CONSTRAINT a_n_positive CHECK (n > 0));
CREATE TABLE b (id serial PRIMARY KEY, a_id int REFERENCES a (id));
CREATE TABLE c (id serial PRIMARY KEY, a_id int REFERENCES a (id) ON DELETE CASCADE);
CREATE TABLE d (id serial PRIMARY KEY, a_code varchar(20) REFERENCES a (code) ON DELETE CASCADE);
CREATE TABLE src (id int PRIMARY KEY, n bigint);
"""

SEED = """
INSERT INTO a (n, code) SELECT g, 'k' || g FROM generate_series(1, 300) g;
INSERT INTO b (a_id) VALUES (2), (3), (297);
INSERT INTO c (a_id) SELECT g FROM generate_series(1, 300, 7) g;
INSERT INTO d (a_code) VALUES ('k297');
INSERT INTO src SELECT g, CASE WHEN g <> 200 THEN g + 1 END FROM generate_series(1, 300) g;
"""

DATA = (
    "SELECT 'a', id, n::text, code FROM a UNION ALL SELECT 'b', id, a_id::text, NULL FROM b "
    "UNION ALL SELECT 'c', id, a_id::text, NULL FROM c ORDER BY 1, 2"
)


# (an UPDATE of a unique column, also of the keys a foreign key references, is refused:
# tests/plan/test_update_of_a_unique_column.py)
@pytest.mark.parametrize(
    ("change", "sqlstate"),
    [
        pytest.param("DELETE FROM a WHERE id % 4 = 1", "23503", id="delete-referenced-rows"),
        pytest.param(  # plandiff F38: the rows b keeps after its own DELETE still reference
            "DELETE FROM b WHERE id = 1;\nDELETE FROM a WHERE id % 4 = 1",
            "23503",
            id="delete-referencing-then-referenced-rows",
        ),
        pytest.param("UPDATE a SET n = n - 250 WHERE id % 3 = 0", "23514", id="break-a-check"),
        pytest.param("UPDATE b SET a_id = 999 WHERE id > 1", "23503", id="write-a-missing-key"),
        pytest.param(
            "UPDATE a SET n = NULLIF(n, 150) WHERE id > 100", "23502", id="break-a-not-null"
        ),
        pytest.param(
            "ALTER TABLE a ALTER COLUMN code TYPE varchar(40);\nDELETE FROM a WHERE id % 4 = 1",
            "23503",
            id="widen-then-delete-referenced-rows",
        ),
        # plandiff F56: a FROM / USING was left to the batches, which committed first
        pytest.param(
            "UPDATE a SET n = src.n FROM src WHERE src.id = a.id",
            "23502",
            id="update-from-sets-a-null",
        ),
        pytest.param(
            "UPDATE a SET n = src.n - 250 FROM src WHERE src.id = a.id AND src.n IS NOT NULL",
            "23514",
            id="update-from-breaks-a-check",
        ),
        pytest.param(
            "UPDATE b SET a_id = src.n + 1000 FROM src WHERE src.id = b.id",
            "23503",
            id="update-from-writes-a-missing-key",
        ),
        pytest.param(
            "DELETE FROM a USING src WHERE src.id = a.id AND src.id % 4 = 1",
            "23503",
            id="delete-using-referenced-rows",
        ),
    ],
)
def test_a_data_change_that_breaks_a_constraint_changes_no_row(
    change: str, sqlstate: str, database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    project = Project.create(tmp_path, BASE)
    result = project.plan(change + ";\n", batch_size=64)
    checks = [m for m in result.plan.migrations if "$migrator_check$" in m.steps[0].sql]
    assert checks and checks[0] is result.plan.migrations[0]
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, BASE + SEED)
        assert await naive_error(naive, change) == sqlstate
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, SEED)
        later = {int(v.version_text) for v in result.versions}
        with pytest.raises(MigrationFailed, match="nothing was changed") as failed:
            await apply_all(planned, project.directory, versions=later)
        assert f"SQLSTATE {sqlstate}" in str(failed.value)
        assert await fetch(planned, DATA) == await fetch(naive, DATA)
        assert await fetch(
            planned,
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE column_name = 'code'",
        ) == [(20,)]

    run(scenario())


def test_a_data_change_the_constraints_allow_runs_to_the_end(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    """Deleting rows only a cascading foreign key references, and writing values the
    constraints take: checked, then done in batches, ending as the naive SQL does."""
    change = "DELETE FROM a WHERE id % 4 = 1 AND id > 5 AND id < 290;\nUPDATE a SET n = n + 1;\n"
    project = Project.create(tmp_path, BASE)
    result = project.plan(change, batch_size=64)
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, BASE + SEED)
        assert await naive_error(naive, change) is None
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, SEED)
        await apply_all(
            planned, project.directory, versions={int(v.version_text) for v in result.versions}
        )
        assert await fetch(planned, DATA) == await fetch(naive, DATA)

    run(scenario())


def test_an_update_from_a_table_the_constraints_allow_runs_to_the_end(
    database_url: str, other_database_url: str, tmp_path: Path
) -> None:
    change = "UPDATE a SET n = src.n FROM src WHERE src.id = a.id AND src.n IS NOT NULL;\n"
    project = Project.create(tmp_path, BASE)
    result = project.plan(change, batch_size=64)
    assert result.plan.migrations[0].slot is Slot.BACKFILL_CHECK
    naive, planned = other_database_url, database_url

    async def scenario() -> None:
        await execute(naive, BASE + SEED)
        assert await naive_error(naive, change) is None
        await apply_all(planned, project.directory, versions={1})
        await execute(planned, SEED)
        await apply_all(
            planned, project.directory, versions={int(v.version_text) for v in result.versions}
        )
        assert await fetch(planned, DATA) == await fetch(naive, DATA)

    run(scenario())


def test_an_update_from_a_table_an_earlier_data_change_changes_is_refused(
    tmp_path: Path,
) -> None:
    """The check reads src as it is before the data changes; the naive UPDATE reads it
    after the DELETE. Not left to the batches either (F56)."""
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=r"it reads public\.src, which an earlier data change"):
        project.plan(
            "DELETE FROM src WHERE id > 250;\n"
            "UPDATE a SET n = src.n FROM src WHERE src.id = a.id;\n"
        )


def test_a_cascading_foreign_key_needs_no_check(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path, BASE.replace("REFERENCES a (id));", "REFERENCES a (id) ON DELETE SET NULL);", 1)
    )
    result = project.plan("DELETE FROM a WHERE id % 4 = 1;\n")
    assert [m.slot for m in result.plan.migrations] == [Slot.BACKFILL]


def test_a_foreign_key_that_cannot_be_checked_is_refused(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path, BASE.replace("REFERENCES a (id));", "REFERENCES a (id) MATCH FULL);", 1)
    )
    with pytest.raises(CannotPlan, match="the foreign key b_a_id_fkey it runs under"):
        project.plan("DELETE FROM a WHERE id % 4 = 1;\n")
