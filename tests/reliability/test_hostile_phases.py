"""Hostile use of the planner's phases and of backfill migrations (round 3, P-findings
of /work/notes/hostile-findings.md): each refusal is one line with its exit code, and
the database and ledger stay as they were."""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

import asyncpg
import psycopg
import pytest

from tests.fleet.conftest import targets_file
from tests.helpers import run_cli, start_cli
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


SLOW_FILL = {
    "001_t.up.sql": "CREATE TABLE t (id bigint PRIMARY KEY, v int);\n"
    "INSERT INTO t SELECT g, NULL FROM generate_series(1, 400) g;\n",
    "002_fill.up.sql": "-- migrate:backfill table=t key=id batch-size=10 pause=50ms\n"
    "UPDATE t SET v = 1 WHERE id BETWEEN $1 AND $2 AND v IS NULL;\n",
}


def _progress(database_url: str) -> int:
    if run(fetch(database_url, "SELECT to_regclass('migrator_ledger')"))[0][0] is None:
        return 0
    rows = run(fetch(database_url, "SELECT progress FROM migrator_ledger WHERE version = 2"))
    return 0 if not rows or rows[0][0] is None else int(json.loads(rows[0][0]).get("batches", 0))


def test_sigterm_during_a_backfill_says_how_to_continue(tmp_path: Path, database_url: str) -> None:
    # P9: SIGTERM mid-backfill printed only "interrupted" (O14 named the resume for the
    # other migrations that commit as they go, not for a backfill)
    directory = write_migrations(tmp_path / "m", SLOW_FILL)
    process = start_cli("--dir", str(directory), "--database-url", database_url, "up")
    try:
        deadline = time.monotonic() + 60
        while _progress(database_url) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert [line for line in stderr.splitlines() if line][-2:] == [
        "002_fill was interrupted (a backfill commits batch by batch): migrate status shows "
        "how far it got; migrate up --resume continues it",
        "interrupted",
    ]
    args = ("--dir", str(directory), "--database-url", database_url)
    assert run_cli(*args, "up", "--resume").code == 0
    assert run(fetch(database_url, "SELECT count(*) FROM t WHERE v IS NULL"))[0][0] == 0


def test_a_fleet_names_the_target_of_each_backfill_progress_line(
    tmp_path: Path, database_url: str
) -> None:
    # P9: several targets' progress lines came unnamed ("002_fill: ~400 rows" twice)
    directory = write_migrations(tmp_path / "m", {**SLOW_FILL, "002_fill.up.sql": FILL})
    fleet = targets_file(tmp_path / "fleet.toml", targets=[("tenant-a", database_url)])
    result = run_cli("--dir", str(directory), "up", "--targets", str(fleet))
    assert result.code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if "002_fill:" in line]
    assert progress and all(line.startswith("[tenant-a] 002_fill: ") for line in progress)


def test_a_plan_whose_backfill_would_move_its_key_is_refused(tmp_path: Path) -> None:
    # P12: `UPDATE k SET id = id + 1, v = v + 1` planned as a backfill walking id: with
    # batches of 10, the rows at each batch's end moved into the next batch and got
    # v + 2 (exit 0). Now the planner refuses it with its own reason and nothing is written
    directory = write_migrations(
        tmp_path / "m",
        {"001_k.up.sql": "CREATE TABLE k (id bigint PRIMARY KEY, v int);\n"},
    )
    change = tmp_path / "u.sql"
    change.write_text("UPDATE k SET id = id + 1, v = v + 1;\n")
    result = run_cli("--dir", str(directory), "plan", str(change), "--batch-size", "10")
    assert result.code == 1, result.output
    assert "cannot run this UPDATE in batches: it sets id, the key of" in result.stderr
    assert sorted(p.name for p in directory.iterdir()) == ["001_k.up.sql"]
