"""Progress reporting: the runner tells a :class:`Reporter` what happens; it never
prints. The CLI passes a :class:`TextReporter` on stderr; other callers (dry-run,
tests) pass their own or the silent base class.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from migrator.durations import format_ms

if TYPE_CHECKING:
    from migrator.runner.execute import StepResult
    from migrator.runner.schedule import Step
    from migrator.sql.split import Statement


class Reporter:
    """Receives runner events. Every method does nothing here; override what you need."""

    def database_waiting(self, target: str, cause: str, wait_ms: int) -> None:
        """The server is not up yet (``cause``); connecting is tried again for up to
        ``wait_ms`` (``--wait``). Told once per connection."""

    def lock_waiting(self, what: str, holder: str | None) -> None:
        """Another runner holds the migration lock; we are polling for it."""

    def step_started(self, step: Step) -> None:
        """A migration is about to run (``step.direction`` says which way)."""

    def statement_finished(self, step: Step, statement: Statement) -> None:
        """A statement of a no-transaction migration completed (and was recorded)."""

    def segment_finished(self, step: Step, number: int, total: int) -> None:
        """Segment ``number`` of ``total`` of a file with commit points committed."""

    def step_finished(self, result: StepResult) -> None:
        """A migration completed and its ledger row is committed."""

    def retrying(
        self, step: Step, *, attempt: int, attempts: int, delay_ms: int, reason: str
    ) -> None:
        """Attempt ``attempt`` of ``attempts`` hit a lock timeout; retrying after a pause."""

    def note(self, text: str) -> None:
        """Something the user should know that does not stop the run (drift, ...)."""


class TextReporter(Reporter):
    """One plain line per event, on ``stream`` (stderr by default)."""

    #: what a backfill's progress lines start with (a fleet target's name), and whether
    #: a terminal gets a progress bar (not when several targets share the terminal)
    progress_prefix = ""
    progress_bars = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        #: the step under way that commits as it goes (no transaction, commit points),
        #: and how many of its statements or segments are done
        self._unfinished: tuple[Step, int] | None = None

    def interrupted(self) -> None:
        """Say where an interrupted run stopped, when it stopped inside a migration that
        commits as it goes (the others roll back whole)."""
        if self._unfinished is None:
            return
        step, done = self._unfinished
        if step.transactional and not step.segmented:  # a backfill: batches committed
            self._line(
                f"{step.label} was interrupted (a backfill commits batch by batch): migrate "
                "status shows how far it got; migrate up --resume continues it"
            )
            return
        parts = "statement" if not step.transactional else "segment"
        total = len(step.file.statements) if not step.transactional else len(step.file.segments)
        self._line(
            f"{step.label} was interrupted after {parts} {done}/{total} (it commits as it "
            f"goes): migrate status shows it; migrate {step.direction} --resume continues it"
        )

    def _line(self, text: str) -> None:
        stream = self.stream or sys.stderr
        print(text, file=stream, flush=True)

    def database_waiting(self, target: str, cause: str, wait_ms: int) -> None:
        reason = cause.split(": ", 1)[-1]
        self._line(f"waiting up to {format_ms(wait_ms)} for the database at {target} ({reason})")

    def lock_waiting(self, what: str, holder: str | None) -> None:
        self._line(f"waiting for the migration lock of {what} (held by {holder or 'another run'})")

    def step_started(self, step: Step) -> None:
        verb = "applying" if step.direction == "up" else "reverting"
        if not step.transactional:
            resume = f" from statement {step.start_at + 1}" if step.start_at else ""
            self._line(f"{verb} {step.label} (no transaction){resume}")
            self._unfinished = (step, step.start_at)
        elif step.segmented:
            total = len(step.file.segments)
            resume = f" from segment {total - len(step.segments) + 1}" if step.start_at else ""
            self._line(f"{verb} {step.label} ({total} segments at its commit points){resume}")
            self._unfinished = (step, total - len(step.segments))
        elif step.direction == "up" and step.file.directives.backfill is not None:
            self._unfinished = (step, 0)

    def segment_finished(self, step: Step, number: int, total: int) -> None:
        self._line(f"  segment {number}/{total} committed")
        self._unfinished = (step, number)

    def statement_finished(self, step: Step, statement: Statement) -> None:
        total = len(step.file.statements)
        self._line(f"  statement {statement.index + 1}/{total} done (line {statement.line})")
        self._unfinished = (step, statement.index + 1)

    def step_finished(self, result: StepResult) -> None:
        self._unfinished = None
        verb = "applied" if result.step.direction == "up" else "reverted"
        retries = f", after {result.attempts} attempts" if result.attempts > 1 else ""
        self._line(f"{verb} {result.step.label} ({result.duration_ms} ms{retries})")

    def retrying(
        self, step: Step, *, attempt: int, attempts: int, delay_ms: int, reason: str
    ) -> None:
        self._line(
            f"{step.label}: {reason} (attempt {attempt} of {attempts}); "
            f"retrying in {format_ms(delay_ms)}"
        )

    def note(self, text: str) -> None:
        self._line(f"note: {text}")
