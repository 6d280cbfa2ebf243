"""A ``DROP`` the plan runs in its contract phase, after the rest of the change
committed, that fails there on a dependent the naive statement fails on too (2BP01):
the plan stops half-applied (plandiff F54: ``DETACH PARTITION b_p1; DROP TABLE b``
committed the detach, then the drop failed, b_p1's default taking values from b's
sequence). The replay knows these dependents, so the planner refuses such a drop with
the reason, and plans the same drop once the dependent is gone. Each case is run naive
on the server too: the refusal stands only where the naive SQL fails."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from migrator.plan.model import CannotPlan
from tests.plan.scenario import Project, execute, run

BASE = (
    "CREATE TABLE a (id serial PRIMARY KEY, a_c0 bigint);\n"
    "CREATE TABLE b (id serial PRIMARY KEY, b_c0 bigint) PARTITION BY LIST (id);\n"
    "CREATE TABLE b_p1 PARTITION OF b FOR VALUES IN (1, 4, 7);\n"
    "CREATE TABLE b_p2 PARTITION OF b DEFAULT;\n"
    "CREATE TABLE c (id serial PRIMARY KEY) PARTITION BY LIST (id);\n"
    "CREATE TABLE c_p1 PARTITION OF c FOR VALUES IN (1);\n"
    "ALTER TABLE c DETACH PARTITION c_p1;\n"
    "CREATE TABLE s (k int PRIMARY KEY, id serial);\n"
    "CREATE TABLE o (k int PRIMARY KEY, n int DEFAULT nextval('s_id_seq'));\n"
    "CREATE TABLE p (k int PRIMARY KEY);\n"
    "CREATE TABLE ch (extra int) INHERITS (p);\n"
    "CREATE VIEW v1 AS SELECT id, a_c0 FROM a;\n"
    "CREATE VIEW v2 AS SELECT id FROM v1;\n"
)

#: a statement whose plan commits before the contract (a concurrent build), as in F54
BEFORE = "CREATE INDEX a_idx2 ON a (a_c0);\n"

REFUSED = {
    "detached-partition-then-parent": (
        "ALTER TABLE b DETACH PARTITION b_p1;\nDROP TABLE b;\n",
        r"table public\.b owns a sequence the default of public\.b_p1\.id \(public\.b_id_seq\)",
    ),
    "partition-detached-by-an-earlier-migration": (
        "DROP TABLE c;\n",
        r"table public\.c owns a sequence the default of public\.c_p1\.id \(public\.c_id_seq\)",
    ),
    "table-whose-sequence-another-default-uses": (
        "DROP TABLE s;\n",
        r"table public\.s owns a sequence the default of public\.o\.n \(public\.s_id_seq\)",
    ),
    "serial-column-whose-sequence-another-default-uses": (
        "ALTER TABLE s DROP COLUMN id;\n",
        r"s\.id owns the sequence public\.s_id_seq the default of public\.o\.n",
    ),
    "renamed-sequence": (
        "ALTER SEQUENCE s_id_seq RENAME TO s_seq;\nDROP TABLE s;\n",
        r"the default of public\.o\.n \(public\.s_seq\)",
    ),
    "inherited-table": ("DROP TABLE p;\n", r"table public\.p is inherited by public\.ch"),
    "view-another-view-reads": (
        "DROP VIEW v1;\n",
        r"view public\.v1 is read by view public\.v2: dropping it needs CASCADE",
    ),
}

PLANNED = {
    "parent-and-detached-partition-together": (
        "ALTER TABLE b DETACH PARTITION b_p1;\nDROP TABLE b, b_p1;\n"
    ),
    "parent-with-its-partitions": "DROP TABLE b;\n",
    "default-dropped-first": "ALTER TABLE o ALTER COLUMN n DROP DEFAULT;\nDROP TABLE s;\n",
    "sequence-given-away-first": "ALTER SEQUENCE s_id_seq OWNED BY o.n;\nDROP TABLE s;\n",
    "inheritance-ended-first": "ALTER TABLE ch NO INHERIT p;\nDROP TABLE p;\n",
    "parent-and-child-together": "DROP TABLE p, ch;\n",
    "views-together": "DROP VIEW v2, v1;\n",
    "reader-first": "DROP VIEW v2;\nDROP VIEW v1;\n",
    "cascade": "DROP VIEW v1 CASCADE;\n",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_drop_that_fails_on_a_dependent_is_refused(tmp_path: Path, case: str) -> None:
    change, reason = REFUSED[case]
    project = Project.create(tmp_path, BASE)
    with pytest.raises(CannotPlan, match=reason):
        project.plan(change)
    with pytest.raises(CannotPlan, match=reason):  # after a change that commits earlier
        (tmp_path / "after").mkdir()
        Project.create(tmp_path / "after", BASE).plan(BEFORE + change)


@pytest.mark.parametrize("case", sorted(PLANNED))
def test_the_same_drop_without_the_dependent_is_planned(tmp_path: Path, case: str) -> None:
    project = Project.create(tmp_path, BASE)
    assert project.plan(BEFORE + PLANNED[case]).plan.migrations


def test_the_naive_sql_fails_where_the_plan_is_refused_and_not_elsewhere(
    database_url: str,
) -> None:
    """The server's verdict on every case above (each in a transaction, rolled back)."""

    async def verdicts() -> dict[str, str | None]:
        await execute(database_url, BASE)
        conn = await asyncpg.connect(database_url)
        found: dict[str, str | None] = {}
        try:
            changes = {**{case: change for case, (change, _) in REFUSED.items()}, **PLANNED}
            for case, change in changes.items():
                transaction = conn.transaction()
                await transaction.start()
                try:
                    await conn.execute(BEFORE + change)
                    found[case] = None
                except asyncpg.PostgresError as error:
                    found[case] = str(error.sqlstate)
                finally:
                    await transaction.rollback()
        finally:
            await conn.close()
        return found

    found = run(verdicts())
    assert {case: found[case] for case in REFUSED} == dict.fromkeys(REFUSED, "2BP01")
    assert {case: found[case] for case in PLANNED} == dict.fromkeys(PLANNED)
