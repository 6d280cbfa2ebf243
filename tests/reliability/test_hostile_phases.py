"""Hostile use of the planner's phases and of backfill migrations (round 3, P-findings
of /work/notes/hostile-findings.md): each refusal is one line with its exit code, and
the database and ledger stay as they were."""

from __future__ import annotations

import math
from pathlib import Path

import asyncpg
import psycopg
import pytest

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


@pytest.mark.parametrize("key_type", ["double precision", "real"])
def test_a_float_key_is_walked_whole_where_floats_print_rounded(
    tmp_path: Path, database_url: str, key_type: str
) -> None:
    # P7: under extra_float_digits = 0 (a database setting some applications use), the
    # key of a batch's last row was kept as its rounded text: 0.9999999999999999 -> "1",
    # and the next batch (key > 1) skipped the row of key 1. Exit 0, rows not updated
    neighbours = [math.nextafter(i, 0.0) for i in range(1, 30)] + list(range(1, 30))
    keys = sorted({*neighbours, *(math.nextafter(float(i), 99.0) for i in range(1, 30))})
    values = ", ".join(f"({key!r}::{key_type}, NULL)" for key in keys)
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_f.up.sql": f"CREATE TABLE f (k {key_type} PRIMARY KEY, v int);\n"
            f"INSERT INTO f VALUES {values} ON CONFLICT DO NOTHING;\n",
            "002_fill.up.sql": "-- migrate:backfill table=f key=k batch-size=2\n"
            "UPDATE f SET v = 1 WHERE k BETWEEN $1 AND $2 AND v IS NULL;\n",
        },
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(f'ALTER DATABASE "{name[0]}" SET extra_float_digits = 0')
    result = run_cli("--dir", str(directory), "--database-url", database_url, "up")
    assert result.code == 0, result.output
    assert run(fetch(database_url, "SELECT count(*) FROM f WHERE v IS NULL"))[0][0] == 0


@pytest.mark.parametrize("datestyle", ["SQL, DMY", "Postgres, MDY", "German"])
def test_a_timestamptz_key_is_walked_whole_whatever_the_date_style(
    tmp_path: Path, database_url: str, datestyle: str
) -> None:
    # P8: the other date styles print a zone's abbreviation: India's "IST" reads back
    # as Israel's, so each batch after the first started 3.5 hours late: 40 of 49 rows
    # skipped, exit 0. The migration's own UPDATE still sees the database's DateStyle
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_f.up.sql": "CREATE TABLE f (k timestamptz PRIMARY KEY, s text);\n"
            "INSERT INTO f SELECT g, NULL FROM generate_series("
            "'2024-01-01 00:00+05:30'::timestamptz, '2024-01-01 12:00+05:30', '15 min') g;\n",
            "002_fill.up.sql": "-- migrate:backfill table=f key=k batch-size=3\n"
            "UPDATE f SET s = k::text WHERE k BETWEEN $1 AND $2 AND s IS NULL;\n",
        },
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(f"ALTER DATABASE \"{name[0]}\" SET DateStyle = '{datestyle}'")
        conn.execute(f"ALTER DATABASE \"{name[0]}\" SET TimeZone = 'Asia/Kolkata'")
    result = run_cli("--dir", str(directory), "--database-url", database_url, "up")
    assert result.code == 0, result.output
    with psycopg.connect(database_url) as conn:  # a new session: the database's settings
        rows = conn.execute("SELECT count(*) FILTER (WHERE s = k::text), count(*) FROM f")
        assert rows.fetchone() == (49, 49)
