"""Run one job per target, concurrently, and collect an :class:`Outcome` for each.

Each target runs the same runner function a single database runs (``up``, ``status``,
...), with its own connection, ledger and migration lock, so everything one database
gets (lock timeouts and retries, no-transaction progress and resume, phases,
backfills) holds per target, and two fleet runs over the same targets apply each
migration exactly once on each.

Order and stopping:

- ``canary``: the first N targets (in file order) run first; if any of them does not
  succeed, no other target starts.
- by default the first target that does not succeed stops new targets from starting;
  those already running finish. ``continue_on_error`` runs every target regardless.
- Ctrl-C / SIGTERM cancels the running targets (each rolls back its migration and
  closes its connection, as one ``migrate up`` does) and starts no new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from migrator.config import Settings
from migrator.dsn import mask_dsn, mask_text
from migrator.errors import ConnectionFailed, ExitCode, LockNotAcquired, MigratorError
from migrator.fleet.targets import Target

TargetState = Literal[
    "ok", "checks failed", "failed", "unreachable", "lock busy", "not started", "interrupted"
]
#: which exit code wins when targets end differently: the first listed present
_EXIT_PRIORITY = (
    ExitCode.INTERRUPTED,
    ExitCode.MIGRATION_FAILED,
    ExitCode.CONNECTION,
    ExitCode.USAGE,
    ExitCode.INTERNAL,
    ExitCode.FINDINGS,
)


@dataclass(frozen=True)
class JobResult:
    """What a job tells about its target when it ran to the end."""

    summary: str
    current_version: int | None = None
    pending: int | None = None
    #: ``checks failed`` (exit 1) for verify problems or ``status --exit-code``
    checks_failed: bool = False
    #: a finer state for JSON (``status``: up to date / pending / failed)
    detail_state: str | None = None
    #: command-specific data for ``--format json``
    payload: Mapping[str, Any] = field(default_factory=dict)
    #: longer output printed under the target's name (``up --sql``)
    text: str | None = None
    #: ``current_version`` in messages (``3``; ``1_27`` rather than Flyway's ledger key)
    current_version_shown: str | None = None


Job = Callable[[Target, Settings], Awaitable[JobResult]]


@dataclass(frozen=True)
class Outcome:
    target: Target
    state: TargetState
    exit_code: ExitCode
    summary: str
    duration_ms: int | None = None
    result: JobResult | None = None

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def to_json(self) -> dict[str, Any]:
        result = self.result
        data: dict[str, Any] = {
            "name": self.name,
            "url": mask_dsn(self.target.url),
            "state": (result.detail_state if result and result.detail_state else self.state),
            "current_version": result.current_version if result else None,
            "pending": result.pending if result else None,
            "error": None if self.ok or self.state == "checks failed" else self.summary,
            "duration_ms": self.duration_ms,
        }
        if result is not None:
            data.update(result.payload)
        return data


@dataclass(frozen=True)
class FleetOptions:
    concurrency: int = 4
    canary: int = 0
    continue_on_error: bool = False


@dataclass(frozen=True)
class FleetResult:
    outcomes: tuple[Outcome, ...]
    #: why targets were not started (the first failure, a failed canary, Ctrl-C)
    stopped_because: str | None
    duration_ms: int
    interrupted: bool = False

    def count(self, state: TargetState) -> int:
        return sum(1 for outcome in self.outcomes if outcome.state == state)

    @property
    def exit_code(self) -> ExitCode:
        codes = {outcome.exit_code for outcome in self.outcomes}
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return next((code for code in _EXIT_PRIORITY if code in codes), ExitCode.OK)


class Observer:
    """Told as targets start and finish (the CLI prints; tests record)."""

    def started(self, target: Target) -> None:
        """``target``'s job is about to run."""

    def finished(self, outcome: Outcome) -> None:
        """``outcome.target`` is done (in any state but ``not started``)."""


def failed_outcome(target: Target, error: MigratorError, duration_ms: int | None) -> Outcome:
    """The outcome of a job that raised one of our errors (its one line, masked)."""
    state: TargetState
    if isinstance(error, ConnectionFailed):
        state = "unreachable"
    elif isinstance(error, LockNotAcquired):
        state = "lock busy"
    elif error.exit_code == ExitCode.FINDINGS:
        state = "checks failed"
    else:
        state = "failed"
    return Outcome(target, state, error.exit_code, mask_text(error.one_line()), duration_ms)


def _ms_since(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


async def run_fleet(
    targets: Sequence[Target],
    job: Job,
    settings: Settings,
    options: FleetOptions,
    observer: Observer | None = None,
) -> FleetResult:
    """Run ``job`` on every target (see the module's docstring for order and stops)."""
    observer = observer or Observer()
    started = time.monotonic()
    outcomes: dict[str, Outcome] = {}
    stop: list[str] = []

    async def run_one(target: Target) -> None:
        observer.started(target)
        begun = time.monotonic()
        try:
            result = await job(
                target, replace(settings, database_url=target.url, **target.settings)
            )
        except MigratorError as exc:
            outcome = failed_outcome(target, exc, _ms_since(begun))
        except asyncio.CancelledError:
            outcomes[target.name] = Outcome(
                target, "interrupted", ExitCode.INTERRUPTED, "interrupted", _ms_since(begun)
            )
            raise
        except Exception as exc:  # a bug in one target's run must not hide the others
            outcome = Outcome(
                target,
                "failed",
                ExitCode.INTERNAL,
                mask_text(f"internal error: {type(exc).__name__}: {exc}"),
                _ms_since(begun),
            )
        else:
            state: TargetState = "checks failed" if result.checks_failed else "ok"
            code = ExitCode.FINDINGS if result.checks_failed else ExitCode.OK
            outcome = Outcome(target, state, code, result.summary, _ms_since(begun), result)
        outcomes[target.name] = outcome
        observer.finished(outcome)
        if outcome.state not in ("ok", "checks failed") and not options.continue_on_error:
            stop.append(f"{target.name} {outcome.state}")

    async def pool(batch: Sequence[Target]) -> None:
        pending = iter(batch)

        async def worker() -> None:
            for target in pending:  # one shared iterator: each worker takes the next target
                if stop:
                    return
                await run_one(target)

        workers = max(1, min(options.concurrency, len(batch)))
        await asyncio.gather(*(worker() for _ in range(workers)))

    interrupted = False
    canary = list(targets[: options.canary])
    try:
        if canary:
            await pool(canary)
            failed = [o.name for o in outcomes.values() if o.state not in ("ok", "checks failed")]
            if failed and not stop:
                stop.append(f"canary {failed[0]} did not succeed")
            elif stop:
                stop[0] = f"canary {stop[0]}"
        if not stop:
            await pool(list(targets[options.canary :]))
    except asyncio.CancelledError:
        interrupted = True
        stop.insert(0, "interrupted")
    reason = stop[0] if stop else None
    ordered = []
    for target in targets:
        outcome = outcomes.get(target.name)
        if outcome is None:
            why = f"not started ({reason})" if reason else "not started"
            outcome = Outcome(target, "not started", ExitCode.OK, why)
        ordered.append(outcome)
    return FleetResult(tuple(ordered), reason, _ms_since(started), interrupted)
