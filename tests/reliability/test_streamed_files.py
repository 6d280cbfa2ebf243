"""SIGKILL of a real ``migrate up`` inside a large file, the kind walked from disk
statement by statement (over ``WHOLE_PARSE_LIMIT``; :mod:`migrator.sql.statement_source`):
``up --resume`` still runs every statement exactly once, refuses (naming ``repair``)
when a statement was inserted before the resume point, and a transactional large file
killed half-way leaves nothing and applies whole on the next ``up``."""

from __future__ import annotations

from pathlib import Path

import psycopg

from migrator.source.discovery import load_file
from migrator.sql.split import WHOLE_PARSE_LIMIT
from tests.reliability.control import Control, gate_statement, wait_for
from tests.reliability.database_state import ledger_state
from tests.reliability.processes import MigrateProcess, run_in_process

GATE = 730_013
#: each row's payload: five rows make a file over the whole-parse limit
PAYLOAD = "x" * (WHOLE_PARSE_LIMIT // 4)


def _insert(number: int) -> str:
    return f"INSERT INTO big_rows VALUES ({number}, '{PAYLOAD}');\n"


def _write(directory: Path, *, transactional: bool, first: str = "") -> Path:
    (directory / "001_table.up.sql").write_text(
        "CREATE TABLE big_rows (id int PRIMARY KEY, payload text NOT NULL);\n"
    )
    parts = [] if transactional else ["-- migrate:no-transaction\n"]
    parts += [first, _insert(1), _insert(2), "-- the gate\n", gate_statement(GATE) + "\n"]
    parts += [_insert(3), "UPDATE big_rows SET id = id + 100 WHERE id = 3;\n", _insert(4)]
    path = directory / "002_load.up.sql"
    path.write_text("".join(parts))
    assert load_file(path).streamed  # the path under test
    return path


def _ids(database_url: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('big_rows') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            return []
        return [row[0] for row in conn.execute("SELECT id FROM big_rows ORDER BY id")]


def _kill_at_gate(directory: Path, database_url: str, workdir: Path) -> None:
    """Run ``up`` until it waits at the gate, SIGKILL it, end its orphaned backend."""
    with Control(database_url) as ctl:
        ctl.close_gate(GATE)
        process = MigrateProcess(directory, database_url, "up", workdir=workdir)
        pid = wait_for(lambda: ctl.gate_waiter(GATE), "the gate", process)
        process.kill()
        ctl.query("SELECT pg_terminate_backend(%s)", pid)
        wait_for(
            lambda: ctl.scalar("SELECT 1 WHERE NOT EXISTS (SELECT FROM pg_stat_activity "
                               "WHERE pid = %s)", pid),
            "the orphaned backend to end",
        )  # fmt: skip
        ctl.open_gate(GATE)


def test_resume_after_a_kill_in_a_large_no_transaction_file_runs_each_statement_once(
    database_url: str, migrations_dir: Path, tmp_path: Path
) -> None:
    _write(migrations_dir, transactional=False)
    _kill_at_gate(migrations_dir, database_url, tmp_path / "run")
    assert _ids(database_url) == [1, 2]
    versions = {row[0]: (row[1], row[2]) for row in ledger_state(database_url).rows}
    assert versions[2] == ("partial", 2)  # the two INSERTs before the gate completed
    assert ledger_state(database_url).applies_of(2) == 0

    result = run_in_process(migrations_dir, database_url, "up", "--resume")
    assert result.code == 0, result.output
    assert _ids(database_url) == [1, 2, 4, 103]  # 3 inserted and moved once, 4 once
    assert {row[0]: row[1] for row in ledger_state(database_url).rows}[2] == "applied"


def test_resume_refuses_a_large_file_edited_before_the_resume_point(
    database_url: str, migrations_dir: Path, tmp_path: Path
) -> None:
    _write(migrations_dir, transactional=False)
    _kill_at_gate(migrations_dir, database_url, tmp_path / "run")
    _write(migrations_dir, transactional=False, first=_insert(5))

    result = run_in_process(migrations_dir, database_url, "up", "--resume")
    assert result.code != 0
    assert "repair" in result.output
    assert "statement 1" in result.output  # the inserted one stands where INSERT 1 ran
    assert _ids(database_url) == [1, 2]  # nothing ran


def test_a_large_transactional_file_killed_half_way_leaves_nothing_and_applies_whole(
    database_url: str, migrations_dir: Path, tmp_path: Path
) -> None:
    _write(migrations_dir, transactional=True)
    _kill_at_gate(migrations_dir, database_url, tmp_path / "run")
    assert _ids(database_url) == []  # the INSERTs before the gate rolled back

    result = run_in_process(migrations_dir, database_url, "up")
    assert result.code == 0, result.output
    assert _ids(database_url) == [1, 2, 4, 103]
