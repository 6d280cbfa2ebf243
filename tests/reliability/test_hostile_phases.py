"""Hostile use of the planner's phases and of backfill migrations (round 3, P-findings
of /work/notes/hostile-findings.md): each refusal is one line with its exit code, and
the database and ledger stay as they were."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.helpers import run_cli
from tests.helpers_db import write_migrations
from tests.plan.scenario import fetch, run

FILL = (
    "-- migrate:backfill table=t key=id batch-size=3\n"
    "UPDATE t SET v = 1 WHERE id BETWEEN $1 AND $2 AND v IS NULL;\n"
)
UNFILL = (
    "-- migrate:backfill table=t key=id batch-size=3\n"
    "UPDATE t SET v = NULL WHERE id BETWEEN $1 AND $2 AND v IS NOT NULL;\n"
)
BASE = {
    "001_t.up.sql": "CREATE TABLE t (id bigint PRIMARY KEY, v int);\n"
    "INSERT INTO t SELECT g, NULL FROM generate_series(1, 10) g;\n",
    "001_t.down.sql": "DROP TABLE t;\n",
}


def _ledger(database_url: str) -> list[tuple[object, ...]]:
    async def read() -> list[asyncpg.Record]:
        return await fetch(
            database_url,
            "SELECT version, state, up_checksum, down_checksum FROM migrator_ledger "
            "ORDER BY version",
        )

    return [tuple(row) for row in run(read())]


def test_a_backfill_directive_in_a_down_file_is_refused_before_the_down_runs(
    tmp_path: Path, database_url: str
) -> None:
    # P3: `down` ignored the directive and ran the UPDATE as a plain statement: "there is
    # no parameter $1" (exit 4); lint said nothing
    directory = write_migrations(
        tmp_path / "m", {**BASE, "002_fill.up.sql": FILL, "002_fill.down.sql": UNFILL}
    )
    args = ("--dir", str(directory), "--database-url", database_url)
    assert run_cli(*args, "up").code == 0
    before = _ledger(database_url)

    down = run_cli(*args, "down")
    assert down.code == 2, down.output
    assert down.stderr.count("error:") == 1
    assert "002_fill.down.sql:1: -- migrate:backfill runs only in an up file" in down.stderr
    assert _ledger(database_url) == before
    assert run(fetch(database_url, "SELECT count(*) FROM t WHERE v = 1"))[0][0] == 10

    lint = run_cli("--dir", str(directory), "lint")
    assert lint.code == 1
    assert "002_fill.down.sql:1:1: error [invalid-directive]" in lint.stdout
