"""The fleet's jobs: each runs one runner function (:mod:`migrator.runner.flows`) on
one target and sums up what happened as a :class:`~migrator.fleet.run.JobResult`."""

from __future__ import annotations

from collections.abc import Callable

from migrator.config import Settings
from migrator.fleet.run import Job, JobResult
from migrator.fleet.targets import Target
from migrator.runner import flows
from migrator.runner.report import Reporter, TextReporter
from migrator.source.versions import shown_version


class TargetReporter(TextReporter):
    """What one target's runner says that matters in a fleet (lock waits, retries,
    notes), on stderr, prefixed with the target's name; per-migration lines only
    with ``--verbose``."""

    #: several targets' backfills share the terminal: plain lines, named
    progress_bars = False

    def __init__(self, name: str, *, verbose: bool = False) -> None:
        super().__init__()
        self.name = name
        self.verbose = verbose
        self.progress_prefix = f"[{name}] "

    def _line(self, text: str) -> None:
        super()._line(f"[{self.name}] {text}")

    def step_started(self, step: object) -> None:
        if self.verbose:
            super().step_started(step)  # type: ignore[arg-type]

    def statement_finished(self, step: object, statement: object) -> None:
        if self.verbose:
            super().statement_finished(step, statement)  # type: ignore[arg-type]

    def step_finished(self, result: object) -> None:
        if self.verbose:
            super().step_finished(result)  # type: ignore[arg-type]


ReporterFor = Callable[[Target], Reporter]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _where(version: str | None) -> str:
    return f"version {version}" if version is not None else "no migration applied"


def up_job(options: flows.UpOptions, reporter_for: ReporterFor) -> Job:
    async def job(target: Target, settings: Settings) -> JobResult:
        result = await flows.up(settings, options, reporter=reporter_for(target))
        applied = [r.step.version for r in result.results]
        where = _where(result.current_version_shown)
        summary = (
            f"applied {_plural(len(applied), 'migration')}; now at {where}"
            if applied
            else f"up to date at {where}"
        )
        return JobResult(
            summary,
            result.current_version,
            0,
            payload={"applied": applied},
            current_version_shown=result.current_version_shown,
        )

    return job


def down_job(options: flows.DownOptions, reporter_for: ReporterFor) -> Job:
    async def job(target: Target, settings: Settings) -> JobResult:
        result = await flows.down(settings, options, reporter=reporter_for(target))
        reverted = [r.step.version for r in result.results]
        where = _where(result.current_version_shown)
        summary = (
            f"reverted {_plural(len(reverted), 'migration')}; now at {where}"
            if reverted
            else f"nothing to revert; at {where}"
        )
        return JobResult(
            summary,
            result.current_version,
            payload={"reverted": reverted},
            current_version_shown=result.current_version_shown,
        )

    return job


def pending_sql_job(options: flows.UpOptions, reporter_for: ReporterFor) -> Job:
    """``up --sql``: what would run on each target; nothing is applied."""
    from migrator.runner.schedule import render_sql

    async def job(target: Target, settings: Settings) -> JobResult:
        plan = await flows.pending_plan(settings, options, reporter=reporter_for(target))
        count = len(plan.steps)
        summary = f"{_plural(count, 'migration')} would run" if count else "nothing to apply"
        return JobResult(
            summary,
            pending=count,
            payload={"would_run": [step.version for step in plan.steps]},
            text=render_sql(plan) if count else None,
        )

    return job


def status_job(reporter_for: ReporterFor, *, exit_code: bool) -> Job:
    async def job(target: Target, settings: Settings) -> JobResult:
        report = await flows.status(settings, reporter=reporter_for(target))
        pending = report.count("pending")
        troubled = [m for m in report.migrations if m.state in ("failed", "partial", "running")]
        state: str
        if troubled:
            state = troubled[0].state
            summary = (
                f"{_where(report.current_version_shown)}; "
                f"version {shown_version(troubled[0].version, troubled[0].version_text)} {state}"
            )
        elif pending:
            state = "pending"
            summary = f"{_where(report.current_version_shown)}; {pending} pending"
        else:
            state = "up to date"
            summary = f"up to date at {_where(report.current_version_shown)}"
        drifted = report.count("drifted") + report.count("missing file")
        if drifted:
            summary += f"; {drifted} drifted or missing file"
        return JobResult(
            summary,
            report.current_version,
            pending,
            checks_failed=exit_code and not report.up_to_date,
            detail_state=state,
            payload={"migrations": [m.to_json() for m in report.migrations]},
            current_version_shown=report.current_version_shown,
        )

    return job


def verify_job(reporter_for: ReporterFor) -> Job:
    async def job(target: Target, settings: Settings) -> JobResult:
        report = await flows.verify(settings, reporter=reporter_for(target))
        problems = [problem.to_json() for problem in report.problems]
        if report.ok:
            summary = f"{report.status.count('applied')} applied migration(s) match their files"
        else:
            first = report.problems[0]
            summary = f"{_plural(len(problems), 'problem')}: {first.kind}: {first.message}"
        return JobResult(
            summary,
            report.status.current_version,
            report.status.count("pending"),
            checks_failed=not report.ok,
            payload={"ok": report.ok, "problems": problems},
            current_version_shown=report.status.current_version_shown,
        )

    return job


def baseline_job(version: int | str, reporter_for: ReporterFor) -> Job:
    async def job(target: Target, settings: Settings) -> JobResult:
        recorded = await flows.baseline(settings, version, reporter=reporter_for(target))
        summary = (
            f"recorded {_plural(len(recorded), 'migration')} up to version {version} as applied"
            if recorded
            else f"nothing to record up to version {version}"
        )
        return JobResult(summary, payload={"recorded": [m.version for m in recorded]})

    return job
