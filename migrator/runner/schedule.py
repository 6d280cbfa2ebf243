"""What ``up`` and ``down`` will do, decided before anything runs.

Planning is pure: it takes the parsed migrations, the ledger rows and the settings,
and returns a :class:`Plan` value: which migrations, in which order, which
statements, with which ``lock_timeout`` / ``statement_timeout``, inside a transaction
or statement by statement. ``migrate up --sql`` prints it (:func:`render_sql`); the
executor runs it; tests inspect it.

Timeouts resolve as: the file's directive > flag > environment > ``[tool.migrator]``
> default (the last four are already folded into :class:`Settings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from migrator.config import Settings
from migrator.db.indexes import InvalidIndex
from migrator.db.records import Direction, LedgerEntry
from migrator.durations import format_ms
from migrator.errors import RefusedState, SourceError, UsageError
from migrator.plan.phases import contract_refusal, select_for_phase, unfinished_backfills
from migrator.runner.progress import changed_since_stop
from migrator.runner.recovery import in_doubt, unfinished_refusal
from migrator.runner.retry import RetryPolicy
from migrator.source.discovery import require_runnable
from migrator.source.model import Migration, MigrationFile, MigrationSet, Phase
from migrator.source.segments import Segment
from migrator.source.versions import is_repeatable_key
from migrator.sql import classify
from migrator.sql.split import Statement
from migrator.sql.statement_source import chained

#: what to do about files the runner refuses: every file is checked before anything runs
NOTHING_RAN = "nothing was run: fix the file and run the command again"


@dataclass(frozen=True)
class Step:
    """One migration to apply or revert."""

    migration: Migration
    direction: Direction
    lock_timeout_ms: int
    statement_timeout_ms: int
    #: resume: the 0-based index of the first statement to run
    start_at: int = 0

    @property
    def file(self) -> MigrationFile:
        if self.direction == "up":
            return self.migration.up
        if self.migration.down is None:
            raise UsageError(f"{self.migration.label} is up-only")
        return self.migration.down

    @property
    def transactional(self) -> bool:
        return self.file.transactional

    @property
    def segmented(self) -> bool:
        """The file has commit points: it runs as segments, each its own transaction."""
        return self.file.segmented

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        """The segments of a transactional file this step runs (from ``start_at``)."""
        return tuple(s for s in self.file.segments if s.start >= self.start_at)

    @cached_property
    def statements(self) -> Sequence[Statement]:
        """The statements this step sends (all of them unless resuming); in a
        transactional file, without its own ``BEGIN`` / ``COMMIT``, which the runner's
        transactions stand for. A large file's are walked from disk when iterated
        (:mod:`migrator.sql.statement_source`), never held."""
        if self.transactional:
            return chained([segment.statements for segment in self.segments])
        return self.file.statements[self.start_at :]

    @property
    def replayed_settings(self) -> tuple[Statement, ...]:
        """Resuming: the session settings (``SET search_path``, ``SET ROLE`` ...) among
        the statements that completed before the resume point, sent again first, so the
        rest runs in the session state it would have run in without the failure."""
        return tuple(
            statement
            for statement in self.file.statements[: self.start_at]
            if (parsed := statement.kind_and_fields()) is not None
            and (classify.session_setting(*parsed) or classify.only_sets_config(*parsed))
        )

    @property
    def unreplayable_session_change(self) -> Statement | None:
        """Resuming: the first completed statement that may have changed the session
        in a way that sending it again would not restore alone (``set_config`` inside
        another statement, a ``SET`` in a ``DO`` block); ``None`` if there is none."""
        replayed = {statement.index for statement in self.replayed_settings}
        return next(
            (
                statement
                for statement in self.file.statements[: self.start_at]
                if statement.index not in replayed
                and classify.may_change_session(statement.kind, statement.text)
            ),
            None,
        )

    @cached_property
    def changes_session_defaults(self) -> bool:
        """A statement this step sends changes the defaults new sessions start with
        (``ALTER DATABASE ... SET``, ``ALTER ROLE ... SET``): the next migration must run
        on a new session to see them, as it would run file by file in ``psql``."""
        return any(classify.changes_new_session_defaults(s.kind, s.text) for s in self.statements)

    @property
    def label(self) -> str:
        return self.migration.label

    @property
    def version(self) -> int:
        return self.migration.version


@dataclass(frozen=True)
class Plan:
    """The steps of one ``up`` or ``down`` run, and what the user should know."""

    direction: Direction
    steps: tuple[Step, ...]
    retry: RetryPolicy
    #: warnings that do not stop the run (drift, out-of-order versions, ...)
    notes: tuple[str, ...] = field(default=())


def plan_step(
    migration: Migration,
    direction: Direction,
    settings: Settings,
    *,
    start_at: int = 0,
) -> Step:
    """The step that applies (``up``) or reverts (``down``) one migration."""
    if direction == "down" and migration.down is None:
        raise RefusedState(
            f"{migration.label} is up-only ({migration.up.path.name} has no down migration): "
            "it cannot be reverted",
            hint="write its down migration as the directory's layout names it (.down.sql, "
            "a Flyway U file, a -- migrate:down section), or revert by hand and "
            "`migrate repair --forget "
            f"{migration.version_text or migration.version}`",
        )
    migration_file = migration.up if direction == "up" else migration.down
    assert migration_file is not None
    directives = migration_file.directives
    return Step(
        migration=migration,
        direction=direction,
        lock_timeout_ms=(
            directives.lock_timeout_ms
            if directives.lock_timeout_ms is not None
            else settings.lock_timeout
        ),
        statement_timeout_ms=(
            directives.statement_timeout_ms
            if directives.statement_timeout_ms is not None
            else settings.statement_timeout
        ),
        start_at=start_at,
    )


def ledger_notes(migration_set: MigrationSet, entries: Mapping[int, LedgerEntry]) -> list[str]:
    """Warnings about the ledger that ``up`` reports but does not stop for."""
    notes = []
    files = migration_set.by_version()
    for version, entry in entries.items():
        migration = files.get(version)
        if migration is None:
            notes.append(
                f"version {migration_set.shown_version(version)} ({entry.name}) is in the ledger "
                "but its file is gone"
            )
        elif (
            entry.state == "applied"
            and entry.up_checksum != migration.up.checksum
            and not migration.repeatable  # changed: it runs again
        ):
            notes.append(
                f"{migration.up.path} changed after it was applied (checksum drift); "
                "run `migrate verify`"
            )
    return notes


def _resumed_steps(
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
    settings: Settings,
    direction: Direction,
    resume: bool,
    invalid: Sequence[InvalidIndex],
) -> list[Step]:
    """The steps that finish unfinished no-transaction runs (``--resume``); without
    ``resume``, an unfinished run is refused with the ways out."""
    unfinished = [entry for entry in entries.values() if entry.unfinished]
    if unfinished and not resume:
        first = unfinished[0]
        raise unfinished_refusal(
            first, migration_set.by_version().get(first.version), invalid, attempted=direction
        )
    return [
        _resume_step(entry, migration_set, settings, direction, invalid) for entry in unfinished
    ]


def in_doubt_notes(
    migration_set: MigrationSet, entries: Mapping[int, LedgerEntry], steps: Sequence[Step]
) -> list[str]:
    """What ``--resume`` runs again without knowing whether it completed (see
    :func:`~migrator.runner.recovery.in_doubt`), one note per resumed run."""
    notes = []
    files = migration_set.by_version()
    for step in steps:
        entry = entries.get(step.version)
        doubt = None if entry is None else in_doubt(entry, files.get(step.version))
        if doubt is not None:
            notes.append(
                f"{doubt}: running it again (harmless when it is idempotent, such as "
                "IF NOT EXISTS; `migrate verify` names it before any resume)"
            )
    return notes


def _invalid_index_in_the_way(step: Step, invalid: Sequence[InvalidIndex]) -> InvalidIndex | None:
    """The INVALID index that the statement a resume starts with would build again
    (``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` would even skip it silently)."""
    if not step.statements:
        return None
    parsed = classify.statement_node(step.statements[0].text)
    if parsed is None or parsed[0] != "IndexStmt":
        return None
    fields = parsed[1]
    name = fields.get("idxname")
    schema = (fields.get("relation") or {}).get("schemaname")
    for index in invalid:
        if index.name == name and (schema is None or index.schema == schema):
            return index
    return None


def _resume_step(
    entry: LedgerEntry,
    migration_set: MigrationSet,
    settings: Settings,
    direction: Direction,
    invalid: Sequence[InvalidIndex],
) -> Step:
    migration = migration_set.by_version().get(entry.version)
    if entry.direction != direction:
        raise unfinished_refusal(entry, migration, invalid, attempted=f"{direction} --resume")
    if migration is None:
        raise RefusedState(
            f"cannot resume version {migration_set.shown_version(entry.version)} ({entry.name}): "
            "its file is gone",
            hint="restore the file, or `migrate repair --forget "
            f"{migration_set.shown_version(entry.version)}`",
        )
    step = plan_step(migration, direction, settings, start_at=entry.statements_done)
    resumes_from_progress = direction == "up" and migration.up.directives.backfill is not None
    if resumes_from_progress and entry.up_checksum != migration.up.checksum:
        raise RefusedState(
            f"cannot resume {step.file.path}: it changed since the backfill started, and "
            "the rows it already walked were changed by the old version",
            hint="restore the file to continue; or run the changed file over the whole "
            f"table: `migrate repair {step.migration.shown_version} --forget --yes`, then "
            "`migrate up`",
        )
    if step.transactional and not step.segmented and not resumes_from_progress:
        raise RefusedState(
            f"cannot resume {step.file.path}: it no longer says -- migrate:no-transaction "
            "or has commit points, so it would run again from the start",
            hint="restore the file as it was, or use `migrate repair`",
        )
    if step.segmented and entry.statements_done not in {0, *(s.end for s in step.file.segments)}:
        raise RefusedState(
            f"cannot resume {step.file.path}: the ledger says {entry.statements_done} "
            "statements completed, which is no longer where one of its segments ends",
            hint="restore the file as it was when the run stopped, or use `migrate repair`",
        )
    blocking = _invalid_index_in_the_way(step, invalid)
    if blocking is not None:
        raise RefusedState(
            f"cannot resume {step.file.path}: its next statement (line "
            f"{step.statements[0].line}) builds index {blocking.name}, and the failed "
            f"build left it INVALID",
            hint=f"drop it first with: {blocking.drop_statement}",
        )
    changed = (
        None
        if resumes_from_progress
        else changed_since_stop(entry, step.file.statements, checksum=step.file.checksum)
    )
    if changed is not None:
        raise RefusedState(
            f"cannot resume {step.file.path}: {changed}, so resuming at statement "
            f"{entry.statements_done + 1} would skip or repeat work",
            hint=f"restore the file as it was when the run stopped and resume, or finish or "
            "undo the migration by hand and "
            f"`migrate repair {step.migration.shown_version} --mark-applied` "
            "or `--forget` (add --yes to apply)",
        )
    unreplayable = step.unreplayable_session_change
    if unreplayable is not None:
        raise RefusedState(
            f"cannot resume {step.file.path}: statement {unreplayable.index + 1} (line "
            f"{unreplayable.line}), which completed before the stop, may have changed the "
            "session (set_config, or a SET in a DO block), and the statements after it "
            "would run in a new session without that change",
            hint="finish the migration by hand in a session where that statement ran, then "
            f"`migrate repair {step.migration.shown_version} --mark-applied`, or undo it and "
            "`--forget` (add --yes to apply); in later files, a plain SET is replayed on resume",
        )
    if entry.statements_done > len(step.file.statements):
        raise RefusedState(
            f"cannot resume {step.file.path}: the ledger says {entry.statements_done} "
            f"statements completed but the file now has {len(step.file.statements)}",
            hint="use `migrate repair --mark-applied` or `--forget`",
        )
    return step


def plan_up(
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
    settings: Settings,
    *,
    to: int | None = None,
    resume: bool = False,
    phase: Phase | None = None,
    invalid_indexes: Sequence[InvalidIndex] = (),
) -> Plan:
    """Pending migrations (up to ``to``), oldest first.

    With ``phase``, only the pending migrations up to (not including) the first one of
    a later phase (``--phase expand`` stops before the first backfill or contract).
    A contract migration is refused while a backfill before it is neither applied nor
    planned to run earlier in this same run.

    Refuses (:class:`RefusedState`) while a no-transaction run is unfinished, unless
    ``resume``: then that migration continues from its first statement that did not
    complete. Raises :class:`SourceError` when a file to run has problems.
    """
    notes = ledger_notes(migration_set, entries)
    steps = _resumed_steps(migration_set, entries, settings, "up", resume, invalid_indexes)
    beyond = [step for step in steps if to is not None and step.version > to]
    if beyond:
        raise RefusedState(
            f"--resume would continue version {beyond[0].migration.shown_version}, above --to "
            f"{migration_set.shown_version(to) if to is not None else to}",
            hint="drop --to to resume it, or settle it with `migrate repair`",
        )
    if resume and not steps:
        notes.append("nothing to resume: no failed or partial run in the ledger")
    notes.extend(in_doubt_notes(migration_set, entries, steps))
    newest_applied = max((v for v in entries if not is_repeatable_key(v)), default=None)
    pending = [
        migration
        for migration in migration_set.migrations
        if migration.version not in entries
        and not migration.repeatable
        and (to is None or migration.version <= to)
    ]
    if to is None and phase is None:  # Flyway: repeatables after the versioned ones
        pending.extend(
            migration
            for migration in migration_set.migrations
            if migration.repeatable and repeatable_due(migration, entries.get(migration.version))
        )
    if phase is not None:
        pending = select_for_phase(pending, phase)
    finished = {version: entry.state == "applied" for version, entry in entries.items()}
    finished.update({step.version: True for step in steps})
    for migration in pending:
        unfinished = unfinished_backfills(migration, migration_set.migrations, finished)
        if unfinished:
            raise RefusedState(contract_refusal(migration, unfinished))
        finished[migration.version] = True  # runs before anything later in this plan
        if newest_applied is not None and migration.version < newest_applied:
            notes.append(
                f"{migration.label} is older than the newest applied version "
                f"{migration_set.shown_version(newest_applied)}; applying it out of order"
            )
        steps.append(plan_step(migration, "up", settings))
    if settings.strict:
        _refuse_unless_consistent(migration_set, entries, steps)
    require_runnable(migration_set, [step.file for step in steps], hint=NOTHING_RAN)
    _require_valid_backfills(steps)
    return Plan("up", tuple(steps), RetryPolicy.from_settings(settings), tuple(notes))


def repeatable_due(migration: Migration, entry: LedgerEntry | None) -> bool:
    """A repeatable migration runs when never applied or changed since it was."""
    return entry is None or (
        entry.state == "applied" and entry.up_checksum != migration.up.checksum
    )


#: what ``strict`` refuses to run over (``migrate verify``'s kinds)
_STRICT_KINDS = ("drift", "missing-file", "out-of-order")


def _refuse_unless_consistent(
    migration_set: MigrationSet, entries: Mapping[int, LedgerEntry], steps: Sequence[Step]
) -> None:
    """``strict``: refuse, running nothing, while an applied file changed or is gone,
    or a version this run would apply is older than the newest applied."""
    from migrator.runner.status import verify_problems

    planned = {step.version for step in steps}
    problems = [
        problem.message
        for problem in verify_problems(migration_set, entries)
        if problem.kind in _STRICT_KINDS
        and (problem.kind != "out-of-order" or problem.version in planned)
    ]
    if problems:
        raise RefusedState(
            "strict: the ledger and the files disagree",
            hint="nothing was run; fix that, or run without strict (--no-strict)",
            problems=problems,
        )


def _require_valid_backfills(steps: Sequence[Step]) -> None:
    """Refuse before anything runs when a ``-- migrate:backfill`` directive to run is wrong."""
    if not any(step.file.directives.backfill is not None for step in steps):
        return
    from migrator.source.backfill import backfill_problems  # only for files that have one

    lines = [
        f"{step.file.path}:{problem.line}: {problem.message}"
        + (f" ({problem.hint})" if problem.hint else "")
        for step in steps
        for problem in backfill_problems(step.file)
    ]
    if lines:
        raise SourceError(lines)


def plan_down(
    migration_set: MigrationSet,
    entries: Mapping[int, LedgerEntry],
    settings: Settings,
    *,
    steps: int | None = None,
    to: int | None = None,
    resume: bool = False,
    invalid_indexes: Sequence[InvalidIndex] = (),
) -> Plan:
    """Applied migrations to revert, newest first: ``steps`` of them (default 1), or
    every one above version ``to`` (``to=0``: all). Refuses before anything runs when
    one of them is up-only or its file is gone."""
    if steps is not None and to is not None:
        raise UsageError("give either --steps or --to, not both")
    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be 1 or more (got {steps})")
    planned = _resumed_steps(migration_set, entries, settings, "down", resume, invalid_indexes)
    applied = sorted(
        (
            entry
            for entry in entries.values()
            if entry.state == "applied" and not is_repeatable_key(entry.version)
        ),
        key=lambda entry: entry.version,
        reverse=True,
    )
    if to is not None:
        chosen = [entry for entry in applied if entry.version > to]
    elif planned:
        chosen = []  # resuming finishes the interrupted revert and stops there
    else:
        _require_enough_applied(migration_set, applied, steps)
        chosen = applied[: steps or 1]
    files = migration_set.by_version()
    notes = in_doubt_notes(migration_set, entries, planned)
    for entry in chosen:
        migration = files.get(entry.version)
        if migration is None:
            raise RefusedState(
                f"cannot revert version {migration_set.shown_version(entry.version)} "
                f"({entry.name}): its file is gone",
                hint="restore the .up.sql/.down.sql pair from version control",
            )
        planned.append(plan_step(migration, "down", settings))
        down = migration.down
        if down is not None and entry.down_checksum not in (None, down.checksum):
            notes.append(
                f"{down.path} changed after its migration was applied (checksum drift): "
                "reverting with the file as it is now"
            )
    require_runnable(migration_set, [step.file for step in planned], hint=NOTHING_RAN)
    _require_valid_backfills(planned)
    return Plan("down", tuple(planned), RetryPolicy.from_settings(settings), tuple(notes))


def _require_enough_applied(
    migration_set: MigrationSet, applied: Sequence[LedgerEntry], steps: int | None
) -> None:
    """``--steps N`` with fewer than N migrations applied is refused before anything is
    reverted (golang-migrate's "limit short" too): reverting every one of them silently
    is rarely what a count was meant to do. ``--to 0`` reverts them all."""
    if steps is None or steps <= len(applied):
        return
    if not applied:
        raise UsageError(
            f"--steps {steps}: no migration is applied, nothing reverted",
            hint="migrate status shows the ledger",
        )
    oldest = migration_set.shown_version(applied[-1].version)
    raise UsageError(
        f"--steps {steps} asks for more migrations than are applied "
        f"({len(applied)}, the oldest version {oldest}): nothing reverted",
        hint=f"revert them all with --steps {len(applied)} or --to 0",
    )


def _setting_literal(ms: int) -> str:
    return "0" if ms == 0 else f"'{format_ms(ms)}'"


def setting_statements(step: Step, *, local: bool) -> list[str]:
    """The ``SET [LOCAL]`` statements a step runs under."""
    scope = "SET LOCAL" if local else "SET"
    return [
        f"{scope} lock_timeout = {_setting_literal(step.lock_timeout_ms)}",
        f"{scope} statement_timeout = {_setting_literal(step.statement_timeout_ms)}",
    ]


def render_sql(plan: Plan) -> str:
    """The plan as SQL a reviewer can read: transaction boundaries, settings, each
    statement with its file and line, and where the ledger is written."""
    retry = plan.retry
    lines = [
        f"-- migrate {plan.direction}: {len(plan.steps)} migration(s)",
        f"-- on lock timeout: up to {retry.retries} retries, backoff "
        f"{format_ms(retry.delay_ms)} doubling to {format_ms(retry.max_delay_ms)}, with jitter",
    ]
    lines.extend(f"-- note: {note}" for note in plan.notes)
    for step in plan.steps:
        lines.append("")
        lines.extend(_step_sql(step))
    if not plan.steps:
        lines.append("-- nothing to do")
    return "\n".join(lines) + "\n"


def _step_sql(step: Step) -> list[str]:
    """One step of :func:`render_sql`."""
    path = step.file.path
    segments = step.file.segments
    if step.segmented:
        mode = f"{len(segments)} segments, each in its own transaction, at its commit points"
        skipped = len(segments) - len(step.segments)
        resume = f", resuming at segment {skipped + 1}" if step.start_at else ""
    else:
        mode = "in one transaction" if step.transactional else "no transaction"
        resume = f", resuming at statement {step.start_at + 1}" if step.start_at else ""
    lines = [f"-- {step.direction} {step.label} ({path}; {mode}{resume})"]
    if step.direction == "up" and step.migration.up.directives.backfill is not None:
        lines.append(
            "-- backfill: the UPDATE below runs in batches over the key range, one "
            "short transaction per batch ($1, $2 = first and last key of the batch)"
        )
    total = len(step.file.statements)
    replayed = [
        line
        for statement in step.replayed_settings
        for line in (
            f"-- again: the session setting at line {statement.line}, before the resume point",
            f"{statement.text};",
        )
    ]

    def statement_lines(statements: Sequence[Statement]) -> list[str]:
        return [
            line
            for statement in statements
            for line in (
                f"-- statement {statement.index + 1}/{total}, {path.name}:{statement.line}",
                f"{statement.text};",
            )
        ]

    change = "record as applied" if step.direction == "up" else "remove from the ledger"
    reset = "-- session reset (as DISCARD ALL, keeping the ledger's prepared writes)"
    if not step.transactional:
        lines.extend(f"{sql};" for sql in setting_statements(step, local=False))
        lines.extend(replayed)
        lines.extend(statement_lines(step.statements))
        lines.append(f"-- ledger: {change} (version {step.migration.shown_version})")
        lines.extend(["RESET lock_timeout;", "RESET statement_timeout;", reset])
    if step.transactional:
        lines.extend(replayed)
    for segment in step.segments if step.transactional else ():
        if step.segmented:
            commit = segment.commit
            where = (
                f"the file's {commit.keyword} at line {commit.statement.line}"
                if commit is not None and segment is not step.segments[-1]
                else "the runner, with the ledger row"
            )
            lines.append(f"-- segment {segment.number}/{len(segments)}: committed by {where}")
        lines.append("BEGIN;")
        lines.extend(f"{sql};" for sql in setting_statements(step, local=True))
        lines.extend(statement_lines(segment.statements))
        if segment is not step.segments[-1]:
            lines.append("COMMIT;")
            lines.append(f"-- ledger: record progress ({segment.end} of {total} statements done)")
            continue
        lines.extend(_closing_sql(step, change, reset))
    if step.transactional and not step.segments:  # an empty file: only the ledger write
        lines.append("BEGIN;")
        lines.extend(_closing_sql(step, change, reset))
    return lines


def _closing_sql(step: Step, change: str, reset: str) -> list[str]:
    """How a transactional step ends: the session reset, the ledger write, COMMIT."""
    return [
        f"{reset}; the ledger is written as the runner's role",
        *(f"{sql};" for sql in setting_statements(step, local=True)),
        f"-- ledger: {change} (version {step.migration.shown_version})",
        "COMMIT;",
    ]
