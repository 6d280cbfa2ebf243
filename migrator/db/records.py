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
