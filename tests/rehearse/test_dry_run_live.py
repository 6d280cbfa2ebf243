"""`migrate dry-run` reports as it goes: each migration's line reaches a pipe while
the rehearsal is still running, and a terminal also gets a status line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from migrator.ephemeral import EphemeralServer
from migrator.rehearse.live import LiveReport
from migrator.rehearse.report import REHEARSED, LintSummary, MigrationRehearsal
from migrator.source.discovery import discover
from tests.helpers_db import execute_sql, write_migrations

REPO = Path(__file__).resolve().parents[2]
GO_DATABASE = "migrator_live_probe_go"

#: 002 waits until the test creates a database (visible from every database of the
#: server), so 001's line can only have arrived while the dry-run was still running.
#: It gives up after about 30 s, so a dry-run that buffers fails the test, not hangs it.
GATED = {
    "001_first.up.sql": "CREATE TABLE first (id int);",
    "001_first.down.sql": "DROP TABLE first;",
    "002_gate.up.sql": f"""DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN EXISTS (SELECT FROM pg_database WHERE datname = '{GO_DATABASE}');
    PERFORM pg_sleep(0.05);
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_database WHERE datname = '{GO_DATABASE}') THEN
    RAISE 'the test never opened the gate';
  END IF;
END $$;
CREATE TABLE second (id int);""",
    "002_gate.down.sql": "DROP TABLE second;",
    "003_third.up.sql": "CREATE TABLE third (id int);",
    "003_third.down.sql": "DROP TABLE third;",
}


def _without(environment: Mapping[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in environment.items() if key != name}


@pytest.mark.parametrize(
    ("format_args", "stream_name"),
    [((), "stdout"), (("--format", "json"), "stderr")],
    ids=["text-on-stdout", "json-lines-on-stderr"],
)
def test_each_migration_line_arrives_through_a_pipe_before_the_run_ends(
    migrations_dir: Path,
    pg_server: EphemeralServer,
    format_args: tuple[str, ...],
    stream_name: str,
) -> None:
    write_migrations(migrations_dir, GATED)
    command = [sys.executable, "-m", "migrator", "--dir", str(migrations_dir), "dry-run"]
    process = subprocess.Popen(
        [*command, "--no-lint", "--database-url", pg_server.dsn(), *format_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a user runs it: a pipe gets Python's block buffering unless migrate flushes
        env={**_without(os.environ, "PYTHONUNBUFFERED"), "PYTHONPATH": str(REPO)},
    )
    stream = process.stdout if stream_name == "stdout" else process.stderr
    other = process.stderr if stream_name == "stdout" else process.stdout
    assert stream is not None and other is not None
    try:
        early = [stream.readline(), stream.readline()]
        still_running = process.poll() is None
        execute_sql(pg_server.dsn(), f"CREATE DATABASE {GO_DATABASE}")
        rest, other_text = process.communicate(timeout=120)
        if stream_name == "stderr":
            rest, other_text = other_text, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        execute_sql(pg_server.dsn(), f"DROP DATABASE IF EXISTS {GO_DATABASE}")
    assert early[0] == "lint: skipped (--no-lint)\n"
    assert early[1].startswith("001_first: ok (up, down, up)  up ")
    assert still_running, "the first migration's line came only when the dry-run ended"
    assert process.returncode == 0, rest + other_text
    assert "002_gate: ok (up, down, up)" in rest
    assert "003_third: ok (up, down, up)" in rest
    if stream_name == "stdout":
        assert rest.splitlines()[-1].startswith("dry-run ok: 3 migration(s) rehearsed")
    else:  # the JSON report is whole on stdout, the live lines went to stderr
        assert '"ok": true' in other_text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _rehearsed(label: str) -> MigrationRehearsal:
    version, name = label.split("_", 1)
    return MigrationRehearsal(
        int(version), name, REHEARSED, True, label=label, up_ok=True, down_ok=True,
        reapply_ok=True, round_trip_ok=True, duration_ms=5, down_duration_ms=1,
    )  # fmt: skip


def test_a_terminal_gets_a_status_line_that_is_erased_before_each_result(
    migrations_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_migrations(migrations_dir, {"001_" + "x" * 200 + ".up.sql": "SELECT 1;"})
    (migration,) = discover(migrations_dir).migrations
    monkeypatch.setenv("COLUMNS", "40")
    lines, status = io.StringIO(), _Terminal()
    live = LiveReport(lines, detailed=True, status=status)
    live.linted(LintSummary(ran=True))
    live.starting(migration, 1, 2)
    assert status.getvalue() == "\r\x1b[K" + f"[1/2] rehearsing {migration.label}"[:39]
    live.finished(_rehearsed(migration.label))
    assert status.getvalue().endswith("\r\x1b[K"), "the status line is erased before a result"
    live.close()
    assert lines.getvalue().splitlines() == [
        "lint: 0 error(s), 0 warning(s)",
        f"{migration.label}: ok (up, down, up)  up 5 ms, down 1 ms",
    ]


def test_a_pipe_gets_no_status_line() -> None:
    lines, status = io.StringIO(), io.StringIO()
    live = LiveReport(lines, detailed=False, status=status)
    live.finished(_rehearsed("001_a"))
    live.close()
    assert status.getvalue() == ""
    assert lines.getvalue() == "001_a: ok (up, down, up)  up 5 ms, down 1 ms\n"
