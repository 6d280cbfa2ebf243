"""What a rehearsal found, as values the renderers (text, JSON, markdown) read."""

from __future__ import annotations

from dataclasses import dataclass, field

from migrator.rehearse.observe import LockTaken

#: status of one migration in a rehearsal
REHEARSED = "rehearsed"
FAILED = "failed"
#: applied before the rehearsal started (``--from-schema`` with ``--applied-through``)
ALREADY_APPLIED = "already applied"
#: not tried because an earlier migration failed
NOT_RUN = "not run"
#: the note of a migration whose down file is empty or only comments (no round trip)
EMPTY_DOWN = "empty down: nothing to undo"


@dataclass(frozen=True)
class MigrationRehearsal:
    """The stairway of one migration: up, down, up again."""

    version: int
    name: str
    status: str
    reversible: bool
    #: ``001_name`` as the files spell it
    label: str = ""
    transactional: bool = True
    #: transactions the up file runs as: more than 1 when it has commit points
    segments: int = 1
    up_ok: bool | None = None
    down_ok: bool | None = None
    reapply_ok: bool | None = None
    #: the schema after down equals the schema before up (None: not checked)
    round_trip_ok: bool | None = None
    round_trip_diff: tuple[str, ...] = ()
    duration_ms: int | None = None
    down_duration_ms: int | None = None
    locks: tuple[LockTaken, ...] = ()
    rewrites: tuple[str, ...] = ()
    invalid_indexes: tuple[str, ...] = ()
    #: for a ``-- migrate:backfill`` migration: batches run and rows updated
    backfill_batches: int | None = None
    backfill_rows: int | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()
    #: a failed down or second up left the schema as the first up built it, so the
    #: rehearsal went on to the migrations after this one
    went_on: bool = False

    @property
    def ok(self) -> bool:
        """Applied, and (when reversible) reverted to the same schema and applied again."""
        if self.status == ALREADY_APPLIED:
            return True
        if self.status != REHEARSED or not self.up_ok:
            return False
        if not self.reversible:
            return True
        return bool(self.down_ok and self.round_trip_ok and self.reapply_ok)


@dataclass(frozen=True)
class LintSummary:
    """The linter's verdict before the rehearsal."""

    ran: bool
    errors: tuple[str, ...] = ()
    warnings: int = 0
    note: str | None = None


@dataclass(frozen=True)
class RehearsalReport:
    target: str
    server_version: str
    migrations: tuple[MigrationRehearsal, ...]
    lint: LintSummary = field(default_factory=lambda: LintSummary(ran=False))
    schema_file: str | None = None
    seed_rows: int = 0
    server_start_ms: int | None = None
    total_ms: int = 0

    @property
    def failures(self) -> tuple[MigrationRehearsal, ...]:
        return tuple(m for m in self.migrations if not m.ok and m.status != NOT_RUN)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.lint.errors

    @property
    def rehearsed(self) -> tuple[MigrationRehearsal, ...]:
        return tuple(m for m in self.migrations if m.status in (REHEARSED, FAILED))
