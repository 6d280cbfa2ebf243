"""What the ledger holds, as plain values (no database access here).

The planning and status code works on these values, so it can be tested in memory;
:mod:`migrator.db.ledger` reads and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

#: ``applied``: done. ``failed``: a no-transaction migration stopped at an error
#: (``statements_done`` statements had completed). ``partial``: a no-transaction
#: migration was interrupted with no error recorded (process killed, connection lost).
State = Literal["applied", "failed", "partial"]
STATES: tuple[State, ...] = ("applied", "failed", "partial")
Direction = Literal["up", "down"]
#: kinds of history rows
HistoryAction = Literal["up", "down", "baseline", "repair", "failure"]
HISTORY_ACTIONS: tuple[HistoryAction, ...] = ("up", "down", "baseline", "repair", "failure")


@dataclass(frozen=True)
class ProgressStep:
    """One unit of a no-transaction run that committed: a statement, or a segment of
    consecutive statements that committed together (a ``BEGIN ... COMMIT`` block of the
    file, a commit-point segment). The ledger keeps the completed steps of an
    unfinished run, in order, in ``progress["steps"]``: ``--resume`` and ``verify``
    compare them with the file (see :mod:`migrator.runner.progress`)."""

    #: 0-based index in the file of the step's first statement
    first: int
    #: one fingerprint per statement of the step, in order
    #: (:func:`migrator.runner.progress.fingerprint`)
    fingerprints: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.fingerprints)

    @property
    def end(self) -> int:
        """The index of the statement after the step."""
        return self.first + self.count

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first, "fingerprints": list(self.fingerprints)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProgressStep:
        return cls(int(data["first"]), tuple(str(f) for f in data["fingerprints"]))


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger: the current state of one version."""

    version: int
    name: str
    up_checksum: str
    down_checksum: str | None
    applied_at: datetime | None
    applied_by: str
    duration_ms: int | None
    transactional: bool
    phase: str | None
    state: State
    #: for ``failed`` / ``partial``: which way the interrupted run was going
    direction: Direction
    #: how many statements completed (the next run resumes at this 0-based index)
    statements_done: int
    statements_total: int | None
    error: str | None
    #: reserved for batched backfills (the planner layer)
    progress: dict[str, Any] | None = None

    @property
    def unfinished(self) -> bool:
        return self.state != "applied"

    @property
    def steps(self) -> tuple[ProgressStep, ...] | None:
        """The completed steps of an unfinished no-transaction run, in order; ``None``
        when the row keeps none (written by a version of migrate before 0.2, or a
        backfill, which keeps its own progress)."""
        recorded = (self.progress or {}).get("steps")
        if not isinstance(recorded, list):
            return None
        return tuple(ProgressStep.from_json(step) for step in recorded)


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the append-only history."""

    id: int
    version: int
    name: str
    action: HistoryAction
    checksum: str | None
    at: datetime
    by: str
    duration_ms: int | None
    detail: str | None
