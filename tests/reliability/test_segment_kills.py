"""SIGKILL of a real ``migrate up`` inside a file cut into segments by its commit points,
then the documented recovery: every segment is applied exactly once.

Each segment inserts its own number into ``applied_segments`` (not idempotent: a
segment run twice leaves two rows). The points are the writes that decide what a
resume re-runs: the progress write of segment 1 (before this fix it ran on the lock's
connection *after* the segment's COMMIT, so a kill there left segment 1 committed and
unrecorded, and ``up --resume`` inserted it again), segment 1's COMMIT itself, the
start of segment 2, and the ledger row the last segment commits with. Each runs with
the orphaned server statement terminated and left to finish (see test_kill_points).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers_db import write_migrations
from tests.reliability.control import Control, gate_statement
from tests.reliability.database_state import ledger_progress, ledger_state
from tests.reliability.processes import run_in_process
from tests.reliability.test_kill_points import (
    AtGate,
    AtTrigger,
    Orphan,
    Pause,
    _ledger_trigger,
    kill_at,
)

SEGMENT_2_GATE = 730_001

FILES = {
    "001_table.up.sql": "CREATE TABLE applied_segments (segment int NOT NULL);\n",
    "002_segments.up.sql": (
        "INSERT INTO applied_segments VALUES (1);\n"
        "COMMIT;\n"
        f"{gate_statement(SEGMENT_2_GATE)}\n"
        "INSERT INTO applied_segments VALUES (2);\n"
        "COMMIT AND CHAIN;\n"
        "INSERT INTO applied_segments VALUES (3);\n"
    ),
}
#: statements of 002 done when segment 1 / segment 2 / all of it committed
SEGMENT_1_END, SEGMENT_2_END, TOTAL = 2, 5, 6


@dataclass(frozen=True)
class SegmentKill:
    name: str
    pause: Pause
    orphan: Orphan
    #: ``statements_done`` of 002's row after the kill (``None``: applied)
    done: int | None
    #: the segments committed after the kill
    segments: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"{self.name}-{self.orphan}"


SEGMENT_1_DONE = f"NEW.version = 2 AND NEW.statements_done = {SEGMENT_1_END}"
SEGMENT_1_PROGRESS = AtTrigger(_ledger_trigger("UPDATE", "ledger", SEGMENT_1_DONE))
SEGMENT_1_COMMIT = AtTrigger(_ledger_trigger("UPDATE", "ledger", SEGMENT_1_DONE, deferred=True))
LAST_SEGMENT_ROW = AtTrigger(
    _ledger_trigger("UPDATE", "ledger", "NEW.version = 2 AND NEW.state = 'applied'")
)

POINTS = [
    # the write of segment 1's progress is inside its transaction: it never commits
    # without the segment, and the segment never commits without it
    SegmentKill("segment-1-progress", SEGMENT_1_PROGRESS, "terminate", 0, ()),
    SegmentKill("segment-1-progress", SEGMENT_1_PROGRESS, "finish", 0, ()),
    # killed while segment 1's COMMIT is in flight: whole, with its record, or nothing
    SegmentKill("segment-1-commit", SEGMENT_1_COMMIT, "terminate", 0, ()),
    SegmentKill("segment-1-commit", SEGMENT_1_COMMIT, "finish", SEGMENT_1_END, (1,)),
    SegmentKill("segment-2-start", AtGate(SEGMENT_2_GATE), "terminate", SEGMENT_1_END, (1,)),
    SegmentKill("segment-2-start", AtGate(SEGMENT_2_GATE), "finish", SEGMENT_1_END, (1,)),
    SegmentKill("last-segment-row", LAST_SEGMENT_ROW, "terminate", SEGMENT_2_END, (1, 2)),
    SegmentKill("last-segment-row", LAST_SEGMENT_ROW, "finish", None, (1, 2, 3)),
]


def _kill(point: SegmentKill, directory: Path, database_url: str, workdir: Path) -> int:
    return kill_at(point.pause, point.orphan, ("up",), directory, database_url, workdir).code


def _segments(database_url: str) -> list[int]:
    with Control(database_url) as ctl:
        return [row[0] for row in ctl.query("SELECT segment FROM applied_segments ORDER BY 1")]


@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.id)
def test_a_killed_segmented_run_applies_every_segment_exactly_once(
    point: SegmentKill, tmp_path: Path, database_url: str
) -> None:
    directory = write_migrations(tmp_path / "migrations", FILES)
    assert run_in_process(directory, database_url, "up", "--to", "1").code == 0

    assert _kill(point, directory, database_url, tmp_path / "runs") == -9

    # the ledger agrees with what committed
    assert _segments(database_url) == list(point.segments)
    rows = ledger_state(database_url).rows
    if point.done is None:
        assert rows == ((1, "applied", 1, "up"), (2, "applied", TOTAL, "up"))
    else:
        assert rows == ((1, "applied", 1, "up"), (2, "partial", point.done, "up"))
        recorded = ledger_progress(database_url, 2)["steps"]
        assert sum(len(step["fingerprints"]) for step in recorded) == point.done
        verify = run_in_process(directory, database_url, "verify", "--format", "json")
        problems = json.loads(verify.stdout)["problems"]
        assert verify.code == 1 and [p["kind"] for p in problems] == ["partial"], verify.output
        assert f"with {point.done} statement(s) done" in problems[0]["message"]
        refused = run_in_process(directory, database_url, "up")
        assert refused.code == 4 and "`migrate up --resume`" in refused.stderr, refused.output
        resumed = run_in_process(directory, database_url, "up", "--resume")
        assert resumed.code == 0, resumed.output

    # every segment once, the migration applied once
    assert _segments(database_url) == [1, 2, 3]
    state = ledger_state(database_url)
    assert state.rows == ((1, "applied", 1, "up"), (2, "applied", TOTAL, "up"))
    assert state.history.count((2, "up")) == 1
    final = run_in_process(directory, database_url, "verify")
    assert final.code == 0, final.output


def test_a_no_transaction_statement_in_doubt_is_named_before_resume_runs_it_again(
    tmp_path: Path, database_url: str
) -> None:
    """A statement of a no-transaction file commits on its own, before its progress
    is written: no ledger write can be atomic with it. Killed between the two, the
    ledger cannot know whether it ran: ``verify`` and ``up --resume`` name it (here a
    non-idempotent ``UPDATE`` that did run) instead of re-running it silently."""
    files = {
        "001_balance.up.sql": (
            "CREATE TABLE balance (amount int);\nINSERT INTO balance VALUES (100);\n"
        ),
        "002_raise.up.sql": (
            "-- migrate:no-transaction\nUPDATE balance SET amount = amount + 50;\nSELECT 1;\n"
        ),
    }
    directory = write_migrations(tmp_path / "migrations", files)
    assert run_in_process(directory, database_url, "up", "--to", "1").code == 0
    progress = AtTrigger(
        _ledger_trigger("UPDATE", "ledger", "NEW.version = 2 AND NEW.statements_done = 1")
    )
    point = SegmentKill("update-progress", progress, "terminate", 0, ())

    assert _kill(point, directory, database_url, tmp_path / "runs") == -9

    with Control(database_url) as ctl:
        assert ctl.scalar("SELECT amount FROM balance") == 150  # it ran; not recorded
    assert ledger_state(database_url).rows[1] == (2, "partial", 0, "up")
    where = f"{directory / '002_raise.up.sql'}:2 (statement 1 of 2)"
    verify = run_in_process(directory, database_url, "verify", "--format", "json")
    (problem,) = json.loads(verify.stdout)["problems"]
    assert verify.code == 1 and problem["kind"] == "partial"
    assert f"it stopped at {where} with 0 statement(s) done" in problem["message"]
    assert "that statement may have completed: `--resume` runs it again" in problem["message"]
    resumed = run_in_process(directory, database_url, "up", "--resume")
    assert resumed.code == 0, resumed.output
    assert f"note: {where} may have completed before the run stopped" in resumed.stderr
    assert "running it again" in resumed.stderr


@pytest.mark.parametrize("orphan", ["terminate", "finish"])
def test_a_killed_block_of_a_no_transaction_file_runs_exactly_once(
    orphan: Orphan, tmp_path: Path, database_url: str
) -> None:
    """A ``BEGIN ... COMMIT`` block of a no-transaction file records its progress
    inside the block, before the file's ``COMMIT``: killed at that write, the block
    rolls back with it (before, the write followed the ``COMMIT`` on the lock's
    connection, and a kill there left the block committed and unrecorded)."""
    files = {
        "001_table.up.sql": FILES["001_table.up.sql"],
        "002_block.up.sql": (
            "-- migrate:no-transaction\nBEGIN;\nINSERT INTO applied_segments VALUES (1);\n"
            "COMMIT;\nINSERT INTO applied_segments VALUES (2);\n"
        ),
    }
    directory = write_migrations(tmp_path / "migrations", files)
    assert run_in_process(directory, database_url, "up", "--to", "1").code == 0
    block_done = AtTrigger(
        _ledger_trigger("UPDATE", "ledger", "NEW.version = 2 AND NEW.statements_done = 3")
    )

    code = kill_at(block_done, orphan, ("up",), directory, database_url, tmp_path / "runs").code

    assert code == -9
    assert _segments(database_url) == []
    assert ledger_state(database_url).rows[1] == (2, "partial", 0, "up")
    resumed = run_in_process(directory, database_url, "up", "--resume")
    assert resumed.code == 0, resumed.output
    assert _segments(database_url) == [1, 2]
    assert ledger_state(database_url).rows[1] == (2, "applied", 4, "up")
